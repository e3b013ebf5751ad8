"""Delivery rows: planned with their notice, claimed with a lease, recorded, summed up.

A delivery is one notice to one channel and address, keyed by what the receiving end
deduplicates on. :func:`claim_due_deliveries` takes due ones with a lease in a short
transaction (``SKIP LOCKED`` on PostgreSQL, so several senders share the work); a sender killed
before recording leaves the lease to run out and the next one sends again under the same key.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, or_, select, update

from duban.engine.models import DELIVERY, NOTICE, DeliveryStatus
from duban.engine.ports import Outgoing
from duban.engine.txn import Txn
from duban.engine.validation import shown

PENDING, SENT, FAILED, DEAD = (status.value for status in DeliveryStatus)
NOTICE_COLUMNS = (NOTICE.c.key.label("notice_key"), NOTICE.c.kind, NOTICE.c.doc_number,
                  NOTICE.c.title, NOTICE.c.document, NOTICE.c.body_text,
                  NOTICE.c.body_markdown, NOTICE.c.body_html, NOTICE.c.item_id,
                  NOTICE.c.recipients, NOTICE.c.cc)
LEASE = update(DELIVERY).where(DELIVERY.c.id == bindparam("_id")).values(
    lease_until=bindparam("lease_until"))
RECORD = (
    update(DELIVERY)
    .where(DELIVERY.c.id == bindparam("_id"), DELIVERY.c.status.in_((PENDING, FAILED)))
    .values(status=bindparam("status"), attempts=bindparam("attempts"),
            next_attempt_at=bindparam("next_attempt_at"), lease_until=None,
            last_error=bindparam("last_error"), sent_at=bindparam("sent_at"))
)
# Written before a message leaves and replaced by its result: a sender killed in between
# leaves this, and the next one knows the receiver may already have the message.
STARTED = "发送已开始, 未见结果: 接收方可能已收到"
INSERT = insert(DELIVERY)
NOTICE_STATUS = update(NOTICE).where(NOTICE.c.id == bindparam("_id")).values(
    status=bindparam("status"), last_error=bindparam("last_error"))


def new_row(notice_id: int, channel: str, target: str, style: str | None, key: str,
            due: datetime, now: datetime) -> dict[str, Any]:
    return {"notice_id": notice_id, "channel": channel, "target": target, "style": style,
            "key": key, "status": PENDING, "attempts": 0, "next_attempt_at": due,
            "lease_until": None, "last_error": None, "sent_at": None, "created_at": now}


def unsendable(notice_id: int, channel: str, target: str, key: str,
               now: datetime) -> dict[str, Any]:
    """A delivery dead from the start: its stored address cannot be given to a server. The
    key and target carry a digest and a printable form of the address, never the raw value."""
    digest = hashlib.sha256(target.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    row = new_row(notice_id, channel, shown(target, 200), None, f"{key}:invalid:{digest}",
                  now, now)
    return {**row, "status": DEAD, "last_error": f"收件地址无效, 未发送: {shown(target)}"}


def add(txn: Txn, rows: list[dict[str, Any]]) -> None:
    if rows:
        txn.conn.execute(INSERT, rows)


def claim_due_deliveries(txn: Txn, limit: int, lease_seconds: float) -> list[Outgoing]:
    """Up to ``limit`` deliveries due at the transaction's now and not leased to another
    sender, leased to this one for ``lease_seconds``, with the notices they carry."""
    now = txn.now
    query = (
        select(DELIVERY, *NOTICE_COLUMNS)
        .join(NOTICE, NOTICE.c.id == DELIVERY.c.notice_id)
        .where(DELIVERY.c.status.in_((PENDING, FAILED)), DELIVERY.c.next_attempt_at <= now,
               or_(DELIVERY.c.lease_until.is_(None), DELIVERY.c.lease_until <= now))
        .order_by(DELIVERY.c.next_attempt_at, DELIVERY.c.id)
        .limit(limit)
    )
    if txn.conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=DELIVERY)
    rows = [dict(row) for row in txn.conn.execute(query).mappings()]
    lease = now + timedelta(seconds=lease_seconds)
    if rows:
        txn.conn.execute(LEASE, [{"_id": r["id"], "lease_until": lease} for r in rows])
    return [_outgoing(row, lease) for row in rows]


def _outgoing(row: dict[str, Any], lease: datetime) -> Outgoing:
    notice = {"key": row["notice_key"], "id": row["notice_id"]}
    for column in NOTICE_COLUMNS:
        if column.name != "notice_key":
            notice[column.name] = row[column.name]
    return Outgoing(row["id"], row["key"], row["channel"], row["target"], row["style"], notice,
                    interrupted=row["last_error"] == STARTED, lease=lease)


def start(txn: Txn, message: Outgoing, lease_seconds: float) -> bool:
    """Record that ``message`` is about to leave, if it is still this sender's (its lease
    unchanged): the attempt is counted now, so a message that kills its sender every time
    still ends dead after ``max_attempts``, and the lease is renewed for the sending."""
    return bool(txn.conn.execute(
        update(DELIVERY)
        .where(DELIVERY.c.id == message.delivery_id, DELIVERY.c.lease_until == message.lease,
               DELIVERY.c.status.in_((PENDING, FAILED)))
        .values(attempts=DELIVERY.c.attempts + 1, last_error=STARTED,
                lease_until=txn.now + timedelta(seconds=lease_seconds))).rowcount)


def attempts_of(txn: Txn, delivery_ids: Iterable[int]) -> dict[int, int]:
    return dict(txn.conn.execute(select(DELIVERY.c.id, DELIVERY.c.attempts)
                                 .where(DELIVERY.c.id.in_(list(delivery_ids)))).all())


def record(txn: Txn, delivery_id: int, status: DeliveryStatus, attempts: int,
           next_attempt_at: datetime, error: str | None) -> bool:
    """Record one attempt; False when another sender recorded it after our lease ran out."""
    return bool(txn.conn.execute(RECORD, {
        "_id": delivery_id, "status": status.value, "attempts": attempts,
        "next_attempt_at": next_attempt_at, "last_error": error,
        "sent_at": txn.now if status is DeliveryStatus.sent else None,
    }).rowcount)


def retry(txn: Txn, delivery_ids: list[int]) -> None:
    """Send these deliveries again from the first attempt (after a fix)."""
    if delivery_ids:
        txn.conn.execute(update(DELIVERY).where(DELIVERY.c.id.in_(delivery_ids)).values(
            status=PENDING, attempts=0, next_attempt_at=txn.now, lease_until=None))


def summarize(txn: Txn, notice_ids: set[int]) -> None:
    """A notice's status follows its deliveries: dead if one is dead, failed if one will be
    retried, pending while one waits, sent when all are sent."""
    if not notice_ids:
        return
    by_notice: dict[int, list[tuple[str, str | None]]] = defaultdict(list)
    rows = txn.conn.execute(select(DELIVERY.c.notice_id, DELIVERY.c.status,
                                   DELIVERY.c.last_error)
                            .where(DELIVERY.c.notice_id.in_(notice_ids)))
    for notice_id, status, error in rows:
        by_notice[notice_id].append((status, error))
    changes = []
    for notice_id, found in by_notice.items():
        statuses = {status for status, _ in found}
        status = next((s for s in (DEAD, FAILED, PENDING) if s in statuses), SENT)
        error = next((e for s, e in found if s == status and e), None)
        changes.append({"_id": notice_id, "status": status, "last_error": error})
    txn.conn.execute(NOTICE_STATUS, changes)
