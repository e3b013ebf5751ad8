"""Notice requests: rows written in the same transaction as the event or step that causes them.

Rendering and delivery belong to the notices part (``notifiers/``); here a request records its
kind, item, recipients and a unique key, so that the same step never asks twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from engine.models import NOTICE, PERSON, UNIT, Role
from engine.timers import Recipient

if TYPE_CHECKING:
    from engine.service import Txn


def request(
    txn: Txn,
    item: Mapping[str, Any],
    kind: str,
    *,
    key: str,
    to: tuple[Recipient, ...],
    cc: tuple[Recipient, ...] = (),
    payload: Mapping[str, Any] | None = None,
) -> bool:
    """Write a notice request unless one with the same key exists. True when written."""
    row = {
        "key": key,
        "item_id": item["id"],
        "kind": kind,
        "recipients": resolve(txn, item, to),
        "cc": resolve(txn, item, cc),
        "payload": dict(payload or {}),
        "status": "pending",
        "created_at": txn.now,
    }
    return txn.conn.execute(_insert_once(txn.conn.dialect.name), row).rowcount == 1


_INSERT_ONCE: dict[str, Any] = {}


def _insert_once(dialect_name: str) -> Any:
    """INSERT … ON CONFLICT (key) DO NOTHING, built once per dialect (imported on first use:
    the PostgreSQL dialect module alone costs a command ~40 ms at start-up)."""
    statement = _INSERT_ONCE.get(dialect_name)
    if statement is None:
        if dialect_name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        statement = _INSERT_ONCE[dialect_name] = insert(NOTICE).on_conflict_do_nothing(
            index_elements=["key"]
        )
    return statement


def resolve(txn: Txn, item: Mapping[str, Any], who: tuple[Recipient, ...]) -> list[str]:
    """Logins for recipient roles. An away person's deputy receives in their place (AB岗)."""
    if not who:
        return []
    people = _active_people(txn)
    by_login = {p["login"]: p for p in people}
    logins: list[str] = []
    for recipient in who:
        if recipient is Recipient.owner and item["attrs"].get("owner") in by_login:
            chosen = [item["attrs"]["owner"]]
        elif recipient in (Recipient.owner, Recipient.handlers):
            chosen = [p["login"] for p in people
                      if p["unit_code"] == item["lead_unit"] and Role.handler in p["roles"]]
        elif recipient is Recipient.unit_head:
            head = txn.conn.execute(
                select(UNIT.c.head_login).where(UNIT.c.code == item["lead_unit"])).scalar()
            chosen = [head] if head else [
                p["login"] for p in people
                if p["unit_code"] == item["lead_unit"] and Role.unit_head in p["roles"]]
        elif recipient is Recipient.lead_leader:
            chosen = [item["lead_leader"]] if item["lead_leader"] else []
        else:
            chosen = [p["login"] for p in people if Role.supervisor in p["roles"]]
        for login in chosen:
            person = by_login.get(login)
            away = person and person["away_until"] and person["away_until"] > txn.now
            target = person["deputy_login"] if away and person["deputy_login"] else login
            if target not in logins:
                logins.append(target)
    return logins


def _active_people(txn: Txn) -> list[dict[str, Any]]:
    """Everyone active, read once per transaction (a batch of firings asks many times)."""
    cached = txn.conn.info.get("duban_people")
    if cached is None or cached[0] is not txn:
        rows = txn.conn.execute(select(PERSON).where(PERSON.c.active)).mappings()
        cached = (txn, [dict(row) for row in rows])
        txn.conn.info["duban_people"] = cached
    return cached[1]


def for_item(conn, item_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(select(NOTICE).where(NOTICE.c.item_id == item_id).order_by(NOTICE.c.id))
    return [dict(row) for row in rows.mappings()]
