"""Who looks at items from outside the line: part-time inspectors (特邀督查员) assigned to
items, and third-party evaluations (第三方评估) whose evaluators read and rate their items.

The supervision office assigns and sets up; an inspector or evaluator then sees those items
(read-only, :mod:`duban.engine.visibility`) and an evaluator records a rating per item. Every
step is an audit event; nothing is removed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import insert, select, update

from duban.engine import items
from duban.engine.errors import Conflict, InvalidInput, NotFound, NotVisible, Refused
from duban.engine.models import (
    EVALUATION,
    EVALUATION_ITEM,
    EVALUATION_MEMBER,
    EVALUATION_RATING,
    INSPECTION,
    Role,
)
from duban.engine.txn import ReadTxn, Txn
from duban.engine.validation import clean_text, shown

RATINGS = {"优秀": "优秀", "良好": "良好", "一般": "一般", "较差": "较差"}


def _require_office(txn: ReadTxn, what: str) -> None:
    if not txn.actor.has(Role.supervisor):
        raise Refused(f"{txn.actor.name}无权{what}: 只有督查员可以")


def _person_with(txn: ReadTxn, login: str, role: Role, label: str) -> dict[str, Any]:
    person = txn.directory.people.get(login)
    if person is None:
        raise NotFound(f"没有登录名为 {shown(login)} 的人员")
    if role not in person["roles"] or not person["active"]:
        raise InvalidInput(f"{person['name']}({login}) 不是在用的{label}")
    return person


def assign_inspector(txn: Txn, item_id: int, login: str) -> dict[str, Any]:
    _require_office(txn, "指派特邀督查员")
    items.load(txn, item_id)
    _person_with(txn, login, Role.inspector, "特邀督查员")
    exists = txn.conn.execute(select(INSPECTION.c.login).where(
        INSPECTION.c.item_id == item_id, INSPECTION.c.login == login)).first()
    if exists:
        raise Conflict(f"{login} 已被指派督查事项 {item_id}")
    row = {"item_id": item_id, "login": login, "assigned_at": txn.now,
           "assigned_by": txn.actor.login}
    txn.conn.execute(insert(INSPECTION), row)
    txn.audit.append(at=txn.now, actor=txn.actor.login, action="inspector_assigned",
                     item_id=item_id, payload={"inspector": login})
    return row


def create_evaluation(txn: Txn, name: str, item_ids: Iterable[int],
                      evaluators: Iterable[str]) -> dict[str, Any]:
    _require_office(txn, "设立第三方评估")
    name = clean_text(name, "评估名称", max_length=100)
    ids, logins = sorted(set(item_ids)), sorted(set(evaluators))
    if not ids or not logins:
        raise InvalidInput("第三方评估至少需要一个事项和一位评估人员")
    for item_id in ids:
        items.load(txn, item_id)
    for login in logins:
        _person_with(txn, login, Role.evaluator, "第三方评估人员")
    if txn.conn.execute(select(EVALUATION.c.id).where(EVALUATION.c.name == name)).first():
        raise Conflict(f"已有名为“{name}”的评估")
    evaluation_id = txn.conn.execute(insert(EVALUATION).returning(EVALUATION.c.id), {
        "name": name, "created_at": txn.now, "created_by": txn.actor.login}).scalar_one()
    txn.conn.execute(insert(EVALUATION_ITEM),
                     [{"evaluation_id": evaluation_id, "item_id": i} for i in ids])
    txn.conn.execute(insert(EVALUATION_MEMBER),
                     [{"evaluation_id": evaluation_id, "login": login} for login in logins])
    txn.audit.append(at=txn.now, actor=txn.actor.login, action="evaluation_created",
                     payload={"evaluation": evaluation_id, "name": name, "items": ids,
                              "evaluators": logins})
    return {"id": evaluation_id, "name": name, "items": ids, "evaluators": logins}


def rate(txn: Txn, evaluation: str, item_id: int, rating: str,
         note: str | None) -> dict[str, Any]:
    """An evaluator's rating of one item of their evaluation; a later one replaces it, and
    both stay in the audit."""
    found = _evaluation(txn, evaluation)
    member = txn.conn.execute(select(EVALUATION_MEMBER.c.login).where(
        EVALUATION_MEMBER.c.evaluation_id == found["id"],
        EVALUATION_MEMBER.c.login == txn.actor.login)).first()
    if member is None:
        raise Refused(f"{txn.actor.name}不是“{found['name']}”的评估人员, 不能评价")
    in_it = txn.conn.execute(select(EVALUATION_ITEM.c.item_id).where(
        EVALUATION_ITEM.c.evaluation_id == found["id"],
        EVALUATION_ITEM.c.item_id == item_id)).first()
    if in_it is None:
        raise NotVisible(f"“{found['name']}”中没有事项 {item_id}",
                         f"事项 {item_id} 不在评估 {found['id']} 中")
    rating = rating.strip()
    if rating not in RATINGS:
        raise InvalidInput(f"评价应为 {'、'.join(RATINGS)} 之一")
    note = clean_text(note, "评价说明", max_length=2000, required=False, multiline=True) or None
    key = {"evaluation_id": found["id"], "item_id": item_id, "login": txn.actor.login}
    row = {**key, "rating": rating, "note": note, "rated_at": txn.now}
    replaced = txn.conn.execute(update(EVALUATION_RATING).where(
        *(EVALUATION_RATING.c[k] == v for k, v in key.items()))
        .values(rating=rating, note=note, rated_at=txn.now)).rowcount
    if not replaced:
        txn.conn.execute(insert(EVALUATION_RATING), row)
    txn.audit.append(at=txn.now, actor=txn.actor.login, action="evaluation_rated",
                     item_id=item_id, reason=note,
                     payload={"evaluation": found["id"], "rating": rating})
    return row


def ratings(txn: ReadTxn, evaluation: str) -> dict[str, Any]:
    """An evaluation's items and ratings: for the office and the evaluation's members."""
    found = _evaluation(txn, evaluation)
    members = list(txn.conn.execute(select(EVALUATION_MEMBER.c.login).where(
        EVALUATION_MEMBER.c.evaluation_id == found["id"])).scalars())
    if not txn.actor.has(Role.supervisor) and txn.actor.login not in members:
        raise NotVisible(f"没有名为“{shown(evaluation)}”的评估", f"无权查看评估 {found['id']}")
    item_ids = list(txn.conn.execute(select(EVALUATION_ITEM.c.item_id).where(
        EVALUATION_ITEM.c.evaluation_id == found["id"]).order_by(
        EVALUATION_ITEM.c.item_id)).scalars())
    rows = [dict(r) for r in txn.conn.execute(select(EVALUATION_RATING).where(
        EVALUATION_RATING.c.evaluation_id == found["id"]).order_by(
        EVALUATION_RATING.c.item_id, EVALUATION_RATING.c.login)).mappings()]
    return {**found, "evaluators": members, "items": item_ids, "ratings": rows}


def _evaluation(txn: ReadTxn, name: str) -> dict[str, Any]:
    row = txn.conn.execute(select(EVALUATION).where(EVALUATION.c.name == name)).mappings().first()
    if row is None:
        raise NotFound(f"没有名为“{shown(name)}”的评估")
    return dict(row)
