"""Notice requests: who receives what, written in the transaction of the event or step.

Here a request's recipients are resolved from the item (an away person's deputy receives in
their place); the outbox (``notifiers/``) renders, numbers and plans the deliveries. A unique
key per step or event means the same step never notifies twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from duban.engine.directory import cached as cached_directory
from duban.engine.models import NOTICE, Role
from duban.engine.timers import Recipient

if TYPE_CHECKING:
    from duban.engine.service import Txn


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
    """Write a notice to the outbox unless one with the same key exists. True when written."""
    written = txn.outbox.enqueue(
        txn.conn, txn.audit, item=item, kind=kind, key=key, to=resolve(txn, item, to),
        cc=resolve(txn, item, cc), payload=dict(payload or {}), now=txn.now, tz=txn.tz,
        calendar=txn.calendar, actor=txn.actor.login,
    )
    return written is not None


def resolve(txn: Txn, item: Mapping[str, Any], who: tuple[Recipient, ...]) -> list[str]:
    """Logins for recipient roles. An away person's deputy receives in their place (AB岗)."""
    if not who:
        return []
    units, everyone = cached_directory(txn.conn)
    people = [person for person in everyone.values() if person["active"]]
    by_login = {p["login"]: p for p in people}
    logins: list[str] = []
    for recipient in who:
        if recipient is Recipient.owner and item["attrs"].get("owner") in by_login:
            chosen = [item["attrs"]["owner"]]
        elif recipient in (Recipient.owner, Recipient.handlers):
            chosen = [p["login"] for p in people
                      if p["unit_code"] == item["lead_unit"] and Role.handler in p["roles"]]
        elif recipient is Recipient.unit_head:
            head = units.get(item["lead_unit"], {}).get("head_login")
            chosen = [head] if head else [
                p["login"] for p in people
                if p["unit_code"] == item["lead_unit"] and Role.unit_head in p["roles"]]
        elif recipient is Recipient.lead_leader:
            chosen = [item["lead_leader"]] if item["lead_leader"] else []
        elif recipient is Recipient.co_units:
            co_units = set(item["co_units"] or ())
            chosen = [p["login"] for p in people
                      if p["unit_code"] in co_units and Role.handler in p["roles"]]
        else:
            chosen = [p["login"] for p in people if Role.supervisor in p["roles"]]
        for login in chosen:
            person = by_login.get(login)
            away = person and person["away_until"] and person["away_until"] > txn.now
            target = person["deputy_login"] if away and person["deputy_login"] else login
            if target not in logins:
                logins.append(target)
    return logins


def for_item(conn, item_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(select(NOTICE).where(NOTICE.c.item_id == item_id).order_by(NOTICE.c.id))
    return [dict(row) for row in rows.mappings()]
