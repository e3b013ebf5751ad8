"""Notices: who receives what, written in the transaction of the event or step that caused it.

A notice row is written here once per key (the same step or event never notifies twice) with
its recipients resolved from the item; an away person's deputy receives in their place. At the
end of the transaction the service hands what was written to the notice sink
(:class:`duban.engine.ports.NoticeSink`), which makes the documents and plans the deliveries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, select

from duban.engine import visibility
from duban.engine.audit import canonical
from duban.engine.db import dialect_statement
from duban.engine.errors import InvalidInput, NotFound
from duban.engine.models import DELIVERY, NOTICE, DeliveryStatus, Role
from duban.engine.timers import Recipient
from duban.engine.txn import ReadTxn, Txn, WrittenNotice
from duban.engine.validation import shown

UNIT_SIDE = (Recipient.owner, Recipient.handlers, Recipient.unit_head)


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
    """Write a notice about an item to the people in the given roles. True when written,
    False when a notice with this key exists already (or is held with a batch)."""
    return write(txn, item, kind, key=key, to=resolve(txn, item, to),
                 cc=resolve(txn, item, cc), payload=payload) is not None


def write(
    txn: Txn,
    item: Mapping[str, Any] | None,
    kind: str,
    *,
    key: str,
    to: Sequence[str],
    cc: Sequence[str] = (),
    payload: Mapping[str, Any] | None = None,
) -> int | None:
    """Write one notice to the given logins unless its key exists; returns its id, or None.
    Nobody receives the same notice twice: a recipient is not also copied. In a batch of
    timer firings the notice is held with the batch (None: its id comes when it is written)."""
    row = {"key": key, "item_id": item["id"] if item else None, "kind": kind,
           "recipients": list(to), "cc": [login for login in cc if login not in to],
           "payload": dict(payload or {}), "status": DeliveryStatus.pending.value,
           "created_at": txn.now, "item_state": canonical(dict(item)) if item else None}
    batch = txn.batch_holding(item["id"]) if item is not None else None
    if batch is not None:
        batch.add_notice(row, dict(item))
        return None
    notice_id = txn.conn.execute(dialect_statement(txn.conn, "notice_once", lambda insert: insert(
        NOTICE).on_conflict_do_nothing(index_elements=["key"]).returning(NOTICE.c.id)),
        row).scalar()
    if notice_id is None:
        return None
    txn.notices_written.append(
        WrittenNotice({**row, "id": notice_id}, dict(item) if item is not None else None))
    return notice_id


def resolve(txn: ReadTxn, item: Mapping[str, Any], who: tuple[Recipient, ...]) -> list[str]:
    """Logins for recipient roles. An away person's deputy receives in their place (AB岗)."""
    if not who:
        return []
    directory = txn.directory
    people = [person for person in directory.people.values() if person["active"]]
    by_login = {p["login"]: p for p in people}
    logins: list[str] = []
    for recipient in who:
        if recipient is Recipient.owner and item["attrs"].get("owner") in by_login:
            chosen = [item["attrs"]["owner"]]
        elif recipient in (Recipient.owner, Recipient.handlers):
            chosen = [p["login"] for p in people
                      if p["unit_code"] == item["lead_unit"] and Role.handler in p["roles"]]
        elif recipient is Recipient.unit_head:
            head = directory.units.get(item["lead_unit"], {}).get("head_login")
            chosen = [head] if head else [
                p["login"] for p in people
                if p["unit_code"] == item["lead_unit"] and Role.unit_head in p["roles"]]
        elif recipient is Recipient.lead_leader:
            chosen = [item["lead_leader"]] if item["lead_leader"] else []
        elif recipient is Recipient.co_units:
            co_units = set(item["co_units"] or ())
            chosen = [p["login"] for p in people
                      if p["unit_code"] in co_units and Role.handler in p["roles"]]
            chosen += [directory.units[code]["liaison_login"] for code in sorted(co_units)
                       if code in directory.units and directory.units[code]["liaison_login"]]
        else:
            chosen = [p["login"] for p in people if Role.supervisor in p["roles"]]
        if recipient in UNIT_SIDE:  # the unit's liaison receives the unit's notices
            liaison = directory.units.get(item["lead_unit"], {}).get("liaison_login")
            chosen = [*chosen, liaison] if liaison else chosen
        for login in chosen:
            person = by_login.get(login)
            if person is None and login in directory.people:
                continue  # deactivated: receives nothing
            away = person and person["away_until"] and person["away_until"] > txn.now
            target = person["deputy_login"] if away and person["deputy_login"] else login
            if target not in logins:
                logins.append(target)
    return logins


STATUS_LABELS = {DeliveryStatus.pending: "待发送", DeliveryStatus.sent: "已送达",
                 DeliveryStatus.failed: "失败待重试", DeliveryStatus.dead: "无法送达"}
LIST_COLUMNS = (NOTICE.c.id, NOTICE.c.kind, NOTICE.c.doc_number, NOTICE.c.title,
                NOTICE.c.item_id, NOTICE.c.status, NOTICE.c.recipients, NOTICE.c.created_at,
                NOTICE.c.last_error)


def list_notices(
    txn: ReadTxn,
    *,
    status: str | None = None,
    item_id: int | None = None,
    kind: str | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Notices, newest first."""
    query = select(*LIST_COLUMNS).order_by(NOTICE.c.id.desc()).limit(limit).offset(offset)
    visible = visibility.notice_clause(visibility.scope_of(txn))
    if visible is not None:
        query = query.where(visible)
    if status is not None:  # the code or the word the list shows (已送达)
        status = {label: code.value for code, label in STATUS_LABELS.items()}.get(
            status.strip(), status.strip())
        if status not in STATUS_LABELS:
            listed = "、".join(f"{label}({code.value})" for code, label in STATUS_LABELS.items())
            raise InvalidInput(f"没有通知状态“{shown(status)}”; 可选: {listed}")
        query = query.where(NOTICE.c.status == status)
    if item_id is not None:
        query = query.where(NOTICE.c.item_id == item_id)
    if kind is not None:
        query = query.where(NOTICE.c.kind == kind)
    return [dict(row) for row in txn.conn.execute(query).mappings()]


def counts(txn: ReadTxn) -> dict[str, int]:
    query = select(NOTICE.c.status, func.count()).group_by(NOTICE.c.status)
    visible = visibility.notice_clause(visibility.scope_of(txn))
    if visible is not None:
        query = query.where(visible)
    rows = txn.conn.execute(query)
    return {status: count for status, count in rows}


def notice(txn: ReadTxn, notice_id: int) -> dict[str, Any]:
    """One notice with its deliveries."""
    row = txn.conn.execute(select(NOTICE).where(NOTICE.c.id == notice_id)).mappings().first()
    if row is None:
        raise NotFound(f"没有编号为 {notice_id} 的通知, 或你无权查看")
    found = dict(row)
    visibility.require_notice(txn, found)
    found["deliveries"] = [dict(d) for d in txn.conn.execute(
        select(DELIVERY).where(DELIVERY.c.notice_id == notice_id)
        .order_by(DELIVERY.c.id)).mappings()]
    return found


def for_item(txn: ReadTxn, item_id: int) -> list[dict[str, Any]]:
    """The notices about an item, all of them: callers show only what the reader may see."""
    rows = txn.conn.execute(select(NOTICE).where(NOTICE.c.item_id == item_id)
                            .order_by(NOTICE.c.id))
    return [dict(row) for row in rows.mappings()]


def visible_for_item(txn: ReadTxn, item_id: int) -> list[dict[str, Any]]:
    scope = visibility.scope_of(txn)
    return [n for n in for_item(txn, item_id) if visibility.sees_notice(scope, n)]
