"""The audit log: an append-only hash chain with signed checkpoints.

Each event stores the previous event's hash and its own: SHA-256 over the previous hash and a
canonical JSON of the event. Every write transaction that appends events ends with a
checkpoint (sequence, head hash) signed with a key kept outside the database, so a chain
rewritten from some point on, or cut at its tail, no longer matches a signature.

Sequences are assigned here, one past the head, never by the database: the chain has no gaps by
construction, and a gap means a deleted row. Events are chained at the end of their
transaction; on PostgreSQL a transaction-scoped advisory lock makes that last step serial (the
one serial point of concurrent writers); SQLite's ``BEGIN IMMEDIATE`` already does.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, String, insert, select, text, type_coerce

from duban.engine.models import AUDIT_CHECKPOINT, AUDIT_EVENT
from duban.engine.signing import Signer
from duban.engine.timeutil import iso

GENESIS_HASH = "0" * 64
CHAIN_LOCK_KEY = 0x6475_6261_6E  # "duban": the advisory lock that orders appends
PAGE_SIZE = 5000
HEAD = select(AUDIT_EVENT.c.seq, AUDIT_EVENT.c.hash).order_by(AUDIT_EVENT.c.seq.desc()).limit(1)
INSERT_EVENT = insert(AUDIT_EVENT)
INSERT_CHECKPOINT = insert(AUDIT_CHECKPOINT)
# Verification reads the instant and the payload as stored, so that a value edited into
# something unreadable is reported at its row instead of failing the whole walk.
RAW_COLUMNS = [
    type_coerce(column, String()).label(column.name) if column.name in ("at", "payload")
    else column
    for column in AUDIT_EVENT.columns
]
HASHED_FIELDS = (
    "seq", "at", "actor", "item_id", "action", "event", "from_state", "to_state", "reason",
    "payload",
)


def canonical(value: Any) -> Any:
    """Payloads as JSON will give them back: tuples become lists, instants ISO strings."""
    return json.loads(json.dumps(value, ensure_ascii=False, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"not serialisable in an audit payload: {type(value).__name__}")


def event_hash(prev_hash: str, row: dict[str, Any]) -> str:
    body = {name: row[name] for name in HASHED_FIELDS}
    body["at"] = iso(body["at"])
    text_form = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((prev_hash + text_form).encode()).hexdigest()


def checkpoint_message(seq: int, head_hash: str) -> str:
    return f"duban-audit-checkpoint:{seq}:{head_hash}"


class AuditWriter:
    """Collects the events of one write transaction and appends them at its end, sealed with
    one checkpoint.

    Sequences and hashes are assigned at :meth:`seal`, just before commit: the chain's lock
    (PostgreSQL) is then held for a few inserts, not for the whole transaction, and no
    transaction waits on anything else while it holds it.
    """

    def __init__(self, conn: Connection, signer: Signer, *, serialize: bool) -> None:
        self.conn = conn
        self.signer = signer
        self._serialize = serialize
        self._pending: list[dict[str, Any]] = []

    def append(
        self,
        *,
        at: datetime,
        actor: str,
        action: str,
        item_id: int | None = None,
        event: str | None = None,
        from_state: str | None = None,
        to_state: str | None = None,
        reason: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        row = {
            "at": at,
            "actor": actor,
            "item_id": item_id,
            "action": action,
            "event": event,
            "from_state": from_state,
            "to_state": to_state,
            "reason": reason,
            "payload": canonical(payload or {}),
        }
        self._pending.append(row)
        return row

    def mark(self) -> int:
        """A point to return to when a savepoint inside the transaction is rolled back."""
        return len(self._pending)

    def rollback_to(self, mark: int) -> None:
        del self._pending[mark:]

    def seal(self, at: datetime) -> None:
        """Chain and insert the collected events, then sign the new head."""
        if not self._pending:
            return
        if self._serialize:
            self.conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK_KEY})
        seq, prev_hash = read_head(self.conn)
        for row in self._pending:
            seq += 1
            row["seq"], row["prev_hash"] = seq, prev_hash
            row["hash"] = prev_hash = event_hash(prev_hash, row)
        self.conn.execute(INSERT_EVENT, self._pending)
        self.conn.execute(
            INSERT_CHECKPOINT,
            {
                "seq": seq,
                "head_hash": prev_hash,
                "at": at,
                "key_id": self.signer.key_id,
                "signature": self.signer.sign(checkpoint_message(seq, prev_hash)),
            },
        )
        self._pending = []


def last_key_id(conn: Connection) -> str | None:
    """The key that signed the newest checkpoint, if any: the record's key."""
    return conn.execute(select(AUDIT_CHECKPOINT.c.key_id)
                        .order_by(AUDIT_CHECKPOINT.c.seq.desc()).limit(1)).scalar()


def read_head(conn: Connection) -> tuple[int, str]:
    last = conn.execute(HEAD).first()
    return (0, GENESIS_HASH) if last is None else (last.seq, last.hash)


@dataclass
class VerifyReport:
    """What ``duban audit verify`` found."""

    rows_checked: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    checkpoints_checked: int = 0
    last_checkpoint_seq: int = 0
    first_bad_seq: int | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def fail(self, seq: int, message: str) -> None:
        if self.first_bad_seq is None or seq < self.first_bad_seq:
            self.first_bad_seq = seq
        if len(self.problems) < 50:
            self.problems.append(message)


def verify(conn: Connection, signer: Signer) -> VerifyReport:
    """Walk the whole chain and every checkpoint; report the first bad sequence, if any."""
    report = VerifyReport()
    expected_seq, prev_hash, last_good_checkpoint = 1, GENESIS_HASH, 0
    after = 0
    while True:
        page = conn.execute(
            select(*RAW_COLUMNS).where(AUDIT_EVENT.c.seq > after).order_by(AUDIT_EVENT.c.seq)
            .limit(PAGE_SIZE)
        ).mappings().all()
        if not page:
            break
        checkpoints = _checkpoints_between(conn, after, page[-1]["seq"])
        for row in page:
            seq = row["seq"]
            if seq != expected_seq:
                report.fail(expected_seq, f"序号 {expected_seq} 至 {seq - 1} 的事件缺失(被删除)")
            elif row["prev_hash"] != prev_hash:
                report.fail(seq, f"事件 {seq} 的前序哈希与上一条不符(被删除、插入或调换)")
            else:
                decoded = _decode(row)
                if decoded is None:
                    report.fail(seq, f"事件 {seq} 的内容无法解读(被改动)")
                elif event_hash(row["prev_hash"], decoded) != row["hash"]:
                    report.fail(seq, f"事件 {seq} 的内容与其哈希不符(被改动)")
            checkpoint = checkpoints.get(seq)
            if checkpoint is not None:
                report.checkpoints_checked += 1
                report.last_checkpoint_seq = seq
                if _check_checkpoint(signer, checkpoint, row["hash"], last_good_checkpoint, report):
                    last_good_checkpoint = seq
            report.rows_checked += 1
            expected_seq, prev_hash = seq + 1, row["hash"]
            report.head_seq, report.head_hash = seq, row["hash"]
        after = page[-1]["seq"]
    _check_tail(conn, report)
    return report


def _decode(row: Any) -> dict[str, Any] | None:
    """The row with its instant and payload parsed, or None when they no longer parse."""
    values = dict(row)
    try:
        at, payload = values["at"], values["payload"]
        if isinstance(at, str):
            at = datetime.fromisoformat(at)
        values["at"] = at.replace(tzinfo=UTC) if at.tzinfo is None else at
        values["payload"] = json.loads(payload) if isinstance(payload, str) else payload
    except (ValueError, TypeError, AttributeError):
        return None
    return values


def _checkpoints_between(conn: Connection, after: int, upto: int) -> dict[int, Any]:
    rows = conn.execute(
        select(AUDIT_CHECKPOINT).where(
            AUDIT_CHECKPOINT.c.seq > after, AUDIT_CHECKPOINT.c.seq <= upto
        )
    ).mappings()
    return {row["seq"]: row for row in rows}


def _check_checkpoint(
    signer: Signer, checkpoint: Any, event_hash_now: str, last_good: int, report: VerifyReport
) -> bool:
    seq = checkpoint["seq"]
    if checkpoint["key_id"] != signer.key_id:
        report.fail(seq, f"检查点 {seq} 由另一把密钥({checkpoint['key_id']})签名, 无法核验")
        return False
    if not signer.check(checkpoint_message(seq, checkpoint["head_hash"]), checkpoint["signature"]):
        report.fail(seq, f"检查点 {seq} 的签名无效(检查点被伪造或改动)")
        return False
    if checkpoint["head_hash"] != event_hash_now:
        # The chain check may already have named the exact row inside this range.
        first = report.first_bad_seq
        exact = first is not None and last_good < first <= seq
        report.fail(
            first if exact else last_good + 1,
            f"检查点 {seq} 与链不符: 序号 {last_good + 1} 至 {seq} 之间的事件被改写",
        )
        return False
    return True


def _check_tail(conn: Connection, report: VerifyReport) -> None:
    beyond = conn.execute(
        select(AUDIT_CHECKPOINT.c.seq).where(AUDIT_CHECKPOINT.c.seq > report.head_seq)
        .order_by(AUDIT_CHECKPOINT.c.seq.desc()).limit(1)
    ).scalar()
    if beyond is not None:
        report.fail(
            report.head_seq + 1,
            f"检查点记录到序号 {beyond}, 链只到 {report.head_seq}: 链尾被截断",
        )
    elif report.head_seq > report.last_checkpoint_seq:
        report.fail(
            report.last_checkpoint_seq + 1,
            f"序号 {report.last_checkpoint_seq + 1} 至 {report.head_seq} 的事件没有签名检查点"
            "(在程序之外被追加或改写)",
        )


def item_history(conn: Connection, item_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(AUDIT_EVENT).where(AUDIT_EVENT.c.item_id == item_id).order_by(AUDIT_EVENT.c.seq)
    ).mappings()
    return [dict(row) for row in rows]
