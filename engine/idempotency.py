"""Writes that may be sent twice: a client's ``Idempotency-Key`` makes the second one a replay.

The first write stores its answer under (person, key) in its own transaction; the same key
from the same person then gets that answer again without doing anything, so a request
retried after a lost connection changes nothing twice. A key used for another operation is
refused: it was someone's mistake.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select

from duban.engine.audit import canonical
from duban.engine.errors import Conflict, InvalidInput
from duban.engine.models import IDEMPOTENCY
from duban.engine.txn import Txn

MAX_KEY = 200


def replay(txn: Txn, key: str, operation: str) -> Any | None:
    """The stored answer of an earlier write with this key, or None."""
    if not key or len(key) > MAX_KEY or not key.isprintable():
        raise InvalidInput(f"Idempotency-Key 应为 1 至 {MAX_KEY} 个可见字符")
    row = txn.conn.execute(select(IDEMPOTENCY.c.operation, IDEMPOTENCY.c.result).where(
        IDEMPOTENCY.c.login == txn.actor.login, IDEMPOTENCY.c.key == key)).first()
    if row is None:
        return None
    if row.operation != operation:
        raise Conflict(f"Idempotency-Key {key} 已用于另一操作({row.operation})")
    return row.result


def remember(txn: Txn, key: str, operation: str, result: Any) -> Any:
    """Store the answer; returns it in the form a replay will give (JSON)."""
    stored = canonical(result)
    txn.conn.execute(insert(IDEMPOTENCY), {"login": txn.actor.login, "key": key,
                                           "operation": operation, "result": stored,
                                           "created_at": txn.now})
    return stored
