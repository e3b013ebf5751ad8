"""The engine's bookkeeping rows checked against the events that recorded their changes.

Items are rebuilt from their events (:mod:`duban.engine.rebuild`); these rows are not items but
the chain records each change to them as well: a timer step ends with ``timer_fired``,
``timer_skipped`` or ``timer_failed``; a delivery is ``sent`` under its key; a notice is
``created`` with its number and (since it is recorded) the SHA-256 of its text; a document
number once issued is in an event. A row changed around the engine — a pending step marked
fired, a delivery marked sent, a notice's text edited, a numbering series rewound so that a
number would be issued twice — no longer matches, and ``audit rebuild`` says so.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from typing import Any

from sqlalchemy import Connection, select

from duban.engine.audit import PAGE_SIZE
from duban.engine.models import (
    AUDIT_EVENT,
    DELIVERY,
    DOC_SEQUENCE,
    NOTICE,
    TIMER,
    DeliveryStatus,
    TimerStatus,
)

TIMER_EVENTS = {"timer_fired": TimerStatus.fired.value, "timer_skipped": TimerStatus.skipped.value,
                "timer_failed": TimerStatus.failed.value}
DOC_NUMBER = re.compile(r"^(?P<prefix>.+)〔(?P<year>\d{4})〕(?P<number>\d+)号$")


class Recorded:
    """What the chain says of timers, deliveries, notices and numbers."""

    def __init__(self) -> None:
        self.steps: Counter[tuple[int | None, str, str]] = Counter()
        self.sent_keys: set[str] = set()
        self.notices: dict[int, dict[str, str | None]] = {}
        self.issued: dict[tuple[str, int], int] = {}

    def add(self, event: dict[str, Any]) -> None:
        action, payload = event["action"], event["payload"]
        if action in TIMER_EVENTS:
            self.steps[(event["item_id"], event["event"], TIMER_EVENTS[action])] += 1
        elif event["event"] == DeliveryStatus.sent.value:
            self.sent_keys.add(payload.get("key"))
        elif "kind" in payload:  # the notice's document was made (created, or dead at once)
            self.notices[payload["notice"]] = {  # only what is compared: a million fit
                "doc_number": payload.get("doc_number"), **(
                    {"body_sha256": payload["body_sha256"]} if "body_sha256" in payload else {})}
            found = DOC_NUMBER.match(payload.get("doc_number") or "")
            if found:
                series = (found["prefix"], int(found["year"]))
                self.issued[series] = max(self.issued.get(series, 0), int(found["number"]))


def read_recorded(conn: Connection) -> Recorded:
    recorded = Recorded()
    after = 0
    while True:
        page = conn.execute(
            select(AUDIT_EVENT.c.seq, AUDIT_EVENT.c.item_id, AUDIT_EVENT.c.action,
                   AUDIT_EVENT.c.event, AUDIT_EVENT.c.payload)
            .where(AUDIT_EVENT.c.seq > after,
                   AUDIT_EVENT.c.action.in_([*TIMER_EVENTS, "notice"]))
            .order_by(AUDIT_EVENT.c.seq).limit(PAGE_SIZE)).mappings().all()
        if not page:
            return recorded
        for event in page:
            recorded.add(event)
        after = page[-1]["seq"]


def mismatches(conn: Connection) -> list[str]:
    """Every bookkeeping row that its events do not account for, one line each."""
    recorded = read_recorded(conn)
    found: list[str] = []
    stored = Counter((item_id, step, status) for item_id, step, status in conn.execute(
        select(TIMER.c.item_id, TIMER.c.step, TIMER.c.status).where(
            TIMER.c.status.in_(TIMER_EVENTS.values()))))
    for key in sorted(stored.keys() | recorded.steps.keys(), key=str):
        if stored[key] != recorded.steps[key]:
            item_id, step, status = key
            found.append(f"事项 {item_id} 的步骤 {step}: 库中 {stored[key]} 个 {status}, "
                         f"审计记录 {recorded.steps[key]} 个")
    for delivery_id, key in conn.execute(select(DELIVERY.c.id, DELIVERY.c.key).where(
            DELIVERY.c.status == DeliveryStatus.sent.value).order_by(DELIVERY.c.id)):
        if key not in recorded.sent_keys:
            found.append(f"送达 {delivery_id} 标为已送达, 但审计记录中没有送达事件")
    rows = conn.execute(select(NOTICE.c.id, NOTICE.c.doc_number, NOTICE.c.body_text).where(
        NOTICE.c.document.is_not(None)).order_by(NOTICE.c.id))
    for notice_id, doc_number, body in rows:
        payload = recorded.notices.get(notice_id)
        if payload is None:
            found.append(f"通知 {notice_id} 没有生成记录")
        elif payload.get("doc_number") != doc_number:
            found.append(f"通知 {notice_id} 的文号 {doc_number} 与生成记录"
                         f" {payload.get('doc_number')} 不符")
        elif "body_sha256" in payload and \
                hashlib.sha256((body or "").encode()).hexdigest() != payload["body_sha256"]:
            found.append(f"通知 {notice_id} 的正文与生成时记录的哈希不符")
    last = {(prefix, year): value for prefix, year, value in conn.execute(
        select(DOC_SEQUENCE.c.prefix, DOC_SEQUENCE.c.year, DOC_SEQUENCE.c.last))}
    for (prefix, year), number in sorted(recorded.issued.items()):
        if last.get((prefix, year), 0) < number:
            found.append(f"文号 {prefix}〔{year}〕 的序号记为 {last.get((prefix, year), 0)}, "
                         f"但已发出 {number} 号: 下一个文号会重复")
    return found
