"""Rebuild items from their audit events and compare with what is stored.

The ``created`` event carries the whole item; every later event carries its changes as
``{field: [old, new]}``. Replaying them in sequence must give the stored row exactly: if it
does not, the row was changed outside duban (or an event is missing). The whole office's check
also holds timers, deliveries, notices and numbering against their events
(:mod:`duban.engine.record_check`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from duban.engine import record_check
from duban.engine.audit import PAGE_SIZE
from duban.engine.items import snapshot
from duban.engine.models import AUDIT_EVENT, ITEM
from duban.engine.txn import ReadTxn

CHANGING_ACTIONS = ("event", "edited", "migrated", "recalculated", "handed_over")


@dataclass
class RebuildReport:
    items_checked: int = 0
    mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches


def apply(item: dict[str, Any] | None, event: dict[str, Any]) -> dict[str, Any] | None:
    """One event's effect on the item's JSON form (changes it in place)."""
    if event["action"] == "created":
        return dict(event["payload"]["item"])
    if item is not None and event["action"] in CHANGING_ACTIONS:
        for name, (_, new) in event["payload"].get("changes", {}).items():
            item[name] = new
    return item


def replay(events: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The item as its events describe it (JSON form), or None if it was never created."""
    item: dict[str, Any] | None = None
    for event in events:
        item = apply(item, event)
    return item


def check(txn: ReadTxn, item_id: int | None = None) -> RebuildReport:
    """Compare the rebuild of one item, or of every item, with the stored rows."""
    conn = txn.conn
    report = RebuildReport()
    rebuilt: dict[int, dict[str, Any]] = {}
    after = 0
    while True:
        query = (
            select(AUDIT_EVENT.c.seq, AUDIT_EVENT.c.item_id, AUDIT_EVENT.c.action,
                   AUDIT_EVENT.c.payload)
            .where(AUDIT_EVENT.c.seq > after, AUDIT_EVENT.c.item_id.is_not(None))
            .order_by(AUDIT_EVENT.c.seq)
            .limit(PAGE_SIZE)
        )
        if item_id is not None:
            query = query.where(AUDIT_EVENT.c.item_id == item_id)
        page = conn.execute(query).mappings().all()
        if not page:
            break
        for event in page:
            replayed = apply(rebuilt.get(event["item_id"]), event)
            if replayed is not None:
                rebuilt[event["item_id"]] = replayed
        after = page[-1]["seq"]
    stored_query = select(ITEM)
    if item_id is not None:
        stored_query = stored_query.where(ITEM.c.id == item_id)
    for row in conn.execute(stored_query).mappings():
        report.items_checked += 1
        expected = rebuilt.pop(row["id"], None)
        actual = snapshot(row)
        if expected is None:
            report.mismatches.append(f"事项 {row['id']} 没有创建记录")
            continue
        differing = sorted(name for name in actual if actual[name] != expected.get(name))
        if differing:
            report.mismatches.append(
                f"事项 {row['id']} 的 {'、'.join(differing)} 与审计记录重放结果不符"
            )
    for missing_id in sorted(rebuilt):
        report.mismatches.append(f"事项 {missing_id} 有审计记录, 但数据库中已不存在")
    if item_id is None:  # the office's whole record: its bookkeeping rows too
        report.mismatches.extend(record_check.mismatches(conn))
    return report
