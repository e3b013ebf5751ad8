"""The audit log: an append-only hash chain with signed checkpoints.

Each event stores the previous event's hash and its own, SHA-256 over the previous hash and
the event. Every write transaction that appends events ends with a checkpoint (sequence, head
hash) signed with a key kept outside the database, so a chain rewritten from some point on,
or cut at its tail, no longer matches a signature.

Each row names the scheme its hash was made with (``hash_version``); every scheme stays
verifiable. Version 1 hashed a canonical JSON object of the decoded event, so checking it
parses and re-serialises every row. Version 2, what is written now, hashes what is stored:
the previous hash, then a compact JSON array of the scheme's number and the fields but the
payload (the instant as :func:`duban.engine.timeutil.iso` text), then the payload's stored
text, written once by :func:`duban.engine.json_text.canonical_text`. The array ends where
its brackets close, so the three parts cannot shift into one another; checking a row needs
no JSON parser (:mod:`duban.engine.audit_verify`).

Sequences are assigned here, one past the head, never by the database: the chain has no gaps by
construction, and a gap means a deleted row. Events are chained at the end of their
transaction; on PostgreSQL a transaction-scoped advisory lock makes that last step serial (the
one serial point of concurrent writers); SQLite's ``BEGIN IMMEDIATE`` already does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, text, type_coerce

from duban.engine.json_text import SerialisedJSON, canonical_text
from duban.engine.models import AUDIT_CHECKPOINT, AUDIT_EVENT
from duban.engine.prepared import Prepared
from duban.engine.signing import Signer
from duban.engine.timeutil import iso

GENESIS_HASH = "0" * 64
CHAIN_LOCK_KEY = 0x6475_6261_6E  # "duban": the advisory lock that orders appends
PAGE_SIZE = 5000
HASH_VERSION = 2  # the scheme new events are hashed with
MAX_PROBLEMS = 50  # a report names this many problems, and always the first bad sequence
HEAD = select(AUDIT_EVENT.c.seq, AUDIT_EVENT.c.hash).order_by(AUDIT_EVENT.c.seq.desc()).limit(1)
READ_HEAD = Prepared(HEAD)
# The payload goes in as the text that was hashed, not serialised again on the way.
INSERT_EVENT = Prepared(insert(AUDIT_EVENT).values(
    {**{column.name: bindparam(column.name) for column in AUDIT_EVENT.columns},
     "payload": type_coerce(bindparam("payload_text"), SerialisedJSON())}))
INSERT_CHECKPOINT = Prepared(insert(AUDIT_CHECKPOINT).values(
    {column.name: bindparam(column.name) for column in AUDIT_CHECKPOINT.columns}))
CHAIN_LOCK = Prepared(text("SELECT pg_advisory_xact_lock(:key)"))
HASHED_FIELDS = (
    "seq", "at", "actor", "item_id", "action", "event", "from_state", "to_state", "reason",
    "payload",
)
_HEAD_TEXT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"),
                              check_circular=False).encode  # a flat list: nothing circles


def canonical(value: Any) -> Any:
    """Payloads as JSON will give them back: tuples become lists, instants ISO strings."""
    return json.loads(json.dumps(value, ensure_ascii=False, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"not serialisable in an audit payload: {type(value).__name__}")


def event_hash(prev_hash: str, row: Mapping[str, Any]) -> str:
    """The hash of an event as read back (decoded) or about to be written, by the scheme its
    row names (version 1 when it names none)."""
    if row.get("hash_version", 1) == 1:
        return event_hash_v1(prev_hash, row)
    payload = row["payload"]
    return hash_v2(prev_hash, head_v2(row, at_text(row["at"])),
                   payload if isinstance(payload, str) else canonical_text(payload))


def event_hash_v1(prev_hash: str, row: Mapping[str, Any]) -> str:
    """Version 1: a canonical JSON object of the decoded event."""
    body = {name: row[name] for name in HASHED_FIELDS}
    body["at"] = iso(body["at"])
    text_form = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((prev_hash + text_form).encode()).hexdigest()


def head_v2(row: Mapping[str, Any], at: str | None) -> list[Any]:
    """What version 2 hashes of an event before its payload: the scheme, then the fields."""
    return [2, row["seq"], at, row["actor"], row["item_id"], row["action"], row["event"],
            row["from_state"], row["to_state"], row["reason"]]


def hash_v2(prev_hash: str, head: Sequence[Any], payload_text: str) -> str:
    """Version 2: the previous hash, the head as a compact JSON array, the payload's text."""
    return hashlib.sha256((prev_hash + _HEAD_TEXT(head) + payload_text).encode()).hexdigest()


def at_text(value: Any) -> str | None:
    """The instant's text version 2 hashes, ISO with microseconds and offset in UTC, from the
    value as written or as read back: SQLite's stored text, PostgreSQL's timestamp (both naive
    UTC). None when it is no instant."""
    if isinstance(value, str):
        if len(value) == 26 and value[10] == " ":  # as SQLAlchemy stores it on SQLite
            return f"{value[:10]}T{value[11:]}+00:00"
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return iso(value if value.tzinfo is not None else value.replace(tzinfo=UTC))


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
            "payload_text": canonical_text(canonical(payload or {})),  # stored as hashed
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
            CHAIN_LOCK.execute(self.conn, {"key": CHAIN_LOCK_KEY})
        seq, prev_hash = read_head(self.conn)
        for row in self._pending:
            seq += 1
            row["seq"], row["prev_hash"], row["hash_version"] = seq, prev_hash, HASH_VERSION
            row["hash"] = prev_hash = hash_v2(prev_hash, head_v2(row, at_text(row["at"])),
                                              row["payload_text"])
        INSERT_EVENT.execute_many(self.conn, self._pending)
        INSERT_CHECKPOINT.execute(
            self.conn,
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
    last = READ_HEAD.first(conn, {})
    return (0, GENESIS_HASH) if last is None else (last["seq"], last["hash"])


@dataclass
class VerifyReport:
    """What ``duban audit verify`` found (:func:`duban.engine.audit_verify.verify`)."""

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
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(message)


def item_history(conn: Connection, item_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(AUDIT_EVENT).where(AUDIT_EVENT.c.item_id == item_id).order_by(AUDIT_EVENT.c.seq)
    ).mappings()
    return [dict(row) for row in rows]
