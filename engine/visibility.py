"""What each person may see (数据权限), decided here for every read and every write.

- The supervision office and admins see everything.
- Handlers, unit heads and the unit's liaison see the items their unit leads or helps with
  (协办), and the sub-items of those; an away colleague's deputy sees what the colleague sees.
- Lead and instructing leaders see the items they lead, and the items of the units they
  head and every unit below them.
- Part-time inspectors (特邀督查员) see the items assigned to them; third-party evaluators
  (第三方评估) the items of the evaluations they take part in.
- A notice is seen by the people it names and, unless it is internal, by the people of their
  units. Internal documents (约谈建议, 问责建议, the office's own reminders, and what a workflow
  marks internal) only by the office and the people named in them; the history and the
  timetable leave out what concerns them.

An item, notice or report a person may not see is answered as if it did not exist, and the
attempt is recorded like a refused write (:class:`duban.engine.errors.NotVisible`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Text, and_, cast, false, func, or_, select

from duban.engine.access import GLOBAL_ROLES
from duban.engine.errors import NotVisible, Refused
from duban.engine.models import (
    EVALUATION_ITEM,
    EVALUATION_MEMBER,
    INSPECTION,
    ITEM,
    ITEM_CO_UNIT,
    NOTICE,
    Role,
)
from duban.engine.txn import ReadTxn, Scope

# Documents for the office's eyes: proposals to summon or to hold to account, reminders to
# decide an extension or to call back.
INTERNAL_NOTICES = frozenset({"interview_proposal", "accountability", "extension_pending",
                              "follow_up_due"})
UNIT_ROLES = (Role.handler, Role.unit_head)
PARENT = ITEM.alias("parent_item")
CHILD = ITEM.alias("child_item")
LED = ITEM.alias("led_item")


def scope_of(txn: ReadTxn) -> Scope:
    """What the transaction's actor may see, computed once per transaction."""
    if txn.scope is None:
        txn.scope = _compute(txn)
    return txn.scope


def _compute(txn: ReadTxn) -> Scope:
    actor = txn.actor
    internal = INTERNAL_NOTICES | txn.registry.internal_notices()
    if any(role in actor.roles for role in GLOBAL_ROLES):  # no directory read on this path
        return Scope(actor.login, True, frozenset(), frozenset(), False, False,
                     Role.lead_leader in actor.roles, frozenset(internal), frozenset())
    units: set[str] = set()
    leader_units: set[str] = set()
    directory = txn.directory
    people = [directory.people.get(actor.login, {}), *_principals(txn)]
    for person in people:
        login, unit = person.get("login"), person.get("unit_code")
        roles = set(person.get("roles") or ())
        if unit and roles & set(UNIT_ROLES):
            units.add(unit)
        units |= {code for code, row in directory.units.items()
                  if login and login in (row["head_login"], row["liaison_login"])}
    leader = Role.lead_leader in actor.roles
    if leader:
        leader_units = _below(directory.units, {code for code, row in directory.units.items()
                                                if row["head_login"] == actor.login})
    unit_people = frozenset(p["login"] for p in directory.people.values()
                            if p["unit_code"] in units)
    return Scope(actor.login, False, frozenset(units), frozenset(leader_units),
                 Role.inspector in actor.roles, Role.evaluator in actor.roles, leader,
                 frozenset(internal), unit_people)


def _principals(txn: ReadTxn) -> list[dict[str, Any]]:
    """The away colleagues this person stands in for (AB岗)."""
    return [p for p in txn.directory.people.values()
            if p["deputy_login"] == txn.actor.login and p["active"]
            and p["away_until"] is not None and p["away_until"] > txn.now]


def _below(units: Mapping[str, Mapping[str, Any]], roots: set[str]) -> set[str]:
    found, frontier = set(roots), set(roots)
    while frontier:
        frontier = {code for code, row in units.items()
                    if row["parent_code"] in frontier and code not in found}
        found |= frontier
    return found


# -- items ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Narrowing:
    """What of a ledger filter the co-unit rows answer themselves (they carry the item's
    state and deadline), so that a unit's co-unit items are read from their index alone."""

    states: frozenset[str] | None = None
    since: datetime | None = None  # deadline at or after
    before: datetime | None = None  # deadline before
    complete: bool = False  # nothing else filters: the co-unit rows alone decide
    first: int | None = None  # only the first rows by deadline are wanted


@dataclass(frozen=True)
class Branch:
    """One disjoint part of what a person may see, and how to count it without the items
    when that is possible."""

    condition: ColumnElement[bool]
    count: Select[Any] | None = None


def item_clause(scope: Scope) -> ColumnElement[bool] | None:
    """The condition on ``item`` rows a person may see; None when they see everything."""
    branches = item_branches(scope)
    return None if branches is None else or_(*(b.condition for b in branches))


@functools.lru_cache(maxsize=256)  # built once per reader and filter: statements are reused
def item_branches(scope: Scope,
                  narrowing: Narrowing | None = None) -> tuple[Branch, ...] | None:
    """What a person may see as disjoint conditions, each of which an index answers: their
    units' items, then the co-units' items not already counted, the items they lead, the
    sub-items, the assigned ones. A page of the ledger takes the first rows of each and
    merges them; a count adds them up. None when they see everything."""
    if scope.everything:
        return None
    narrowing = narrowing or Narrowing()
    # (the branch's condition, its negation: NULL-safe, for the branches after it, a count)
    parts: list[tuple[ColumnElement[bool], ColumnElement[bool], Select[Any] | None]] = []
    lead_units = scope.units | scope.leader_units
    if lead_units:
        parts.append((ITEM.c.lead_unit.in_(lead_units), ITEM.c.lead_unit.not_in(lead_units),
                      None))
    if scope.units:
        co_items = select(ITEM_CO_UNIT.c.item_id).where(ITEM_CO_UNIT.c.unit_code.in_(scope.units))
        ids, count = _co_unit_ids(scope, lead_units, narrowing)
        parts.append((ITEM.c.id.in_(ids), ITEM.c.id.not_in(co_items), count))
    if scope.leader:  # only a leader may be named an item's lead leader (engine/items.py)
        led = select(LED.c.id).where(LED.c.lead_leader == scope.login)
        parts.append((ITEM.c.id.in_(led), ITEM.c.id.not_in(led), None))
    if scope.units:
        # Sub-items are few: found from the children's side, their parents looked up by key.
        children = (select(CHILD.c.id).join(PARENT, PARENT.c.id == CHILD.c.parent_id)
                    .where(CHILD.c.parent_id.is_not(None),
                           or_(PARENT.c.lead_unit.in_(scope.units), PARENT.c.id.in_(co_items))))
        parts.append((ITEM.c.id.in_(children), ITEM.c.id.not_in(children), None))
    if scope.inspector:
        assigned = select(INSPECTION.c.item_id).where(INSPECTION.c.login == scope.login)
        parts.append((ITEM.c.id.in_(assigned), ITEM.c.id.not_in(assigned), None))
    if scope.evaluator:
        evaluated = select(EVALUATION_ITEM.c.item_id).join(
            EVALUATION_MEMBER,
            EVALUATION_MEMBER.c.evaluation_id == EVALUATION_ITEM.c.evaluation_id
        ).where(EVALUATION_MEMBER.c.login == scope.login)
        parts.append((ITEM.c.id.in_(evaluated), ITEM.c.id.not_in(evaluated), None))
    if not parts:  # a person who sees no item at all
        return (Branch(false()),)
    return tuple(Branch(and_(condition, *(negation for _, negation, _ in parts[:n])), count)
                 for n, (condition, _, count) in enumerate(parts))


def _co_unit_ids(scope: Scope, lead_units: frozenset[str],
                 narrowing: Narrowing) -> tuple[Select[Any], Select[Any] | None]:
    """The co-unit items of a person's units not led by them, narrowed as far as the rows
    alone can, and their count when they alone decide."""
    co = ITEM_CO_UNIT.c
    where = [co.unit_code.in_(scope.units), co.lead_unit.not_in(lead_units)]
    if narrowing.states is not None:
        where.append(co.state.in_(narrowing.states))
    if narrowing.since is not None:
        where.append(co.current_deadline >= narrowing.since)
    if narrowing.before is not None:
        where.append(co.current_deadline < narrowing.before)
    rows = select(co.item_id, co.current_deadline).where(*where).distinct()
    if narrowing.complete and narrowing.first is not None:
        first = rows.order_by(co.current_deadline, co.item_id).limit(narrowing.first).subquery()
        ids = select(first.c.item_id)
    else:
        ids = select(co.item_id).where(*where)
    count = None
    if narrowing.complete:
        count = select(func.count(func.distinct(co.item_id))).where(*where)
    return ids, count


def sees_item(txn: ReadTxn, item: Mapping[str, Any]) -> bool:
    scope = scope_of(txn)
    if scope.everything or item["lead_leader"] == scope.login:
        return True
    if item["lead_unit"] in scope.units or set(item["co_units"] or ()) & scope.units:
        return True
    if item["lead_unit"] in scope.leader_units:
        return True
    if item["parent_id"] is not None and scope.units:
        parent = txn.conn.execute(select(ITEM.c.lead_unit, ITEM.c.co_units)
                                  .where(ITEM.c.id == item["parent_id"])).first()
        if parent is not None and (parent.lead_unit in scope.units
                                   or set(parent.co_units or ()) & scope.units):
            return True
    if scope.inspector or scope.evaluator:
        clause = item_clause(scope)
        return txn.conn.execute(select(ITEM.c.id).where(ITEM.c.id == item["id"], clause)
                                ).first() is not None
    return False


def require_item(txn: ReadTxn, item: Mapping[str, Any]) -> None:
    if not sees_item(txn, item):
        raise NotVisible(not_found(item["id"]), f"无权查看事项 {item['id']}")


def not_found(item_id: int) -> str:
    """What a missing item and an item one may not see both answer."""
    return f"没有编号为 {item_id} 的督办事项, 或你无权查看"


def require_figures(txn: ReadTxn) -> None:
    scope = scope_of(txn)
    if not (scope.sees_figures or scope.units):
        raise Refused(f"{txn.actor.name}无权查看考核: 只有领导、督查室和被考核单位可以")


def figures_for(txn: ReadTxn, rows: Iterable[Any], key: str = "key") -> list[Any]:
    """Of rows of figures per unit, those the person may see: all for leaders and the
    office, a unit's own for the unit."""
    scope = scope_of(txn)
    if scope.sees_figures:
        return list(rows)
    return [row for row in rows if getattr(row, key) in scope.units]


# -- notices ------------------------------------------------------------------------------------

def notice_clause(scope: Scope) -> ColumnElement[bool] | None:
    """The condition on ``notice`` rows a person may see; None when they see everything."""
    if scope.everything:
        return None
    addressed = cast(NOTICE.c.recipients, Text) + cast(NOTICE.c.cc, Text)

    def names(login: str) -> ColumnElement[bool]:
        return addressed.contains(f'"{login}"', autoescape=True)

    colleagues = [names(login) for login in sorted(scope.unit_people - {scope.login})]
    terms: list[ColumnElement[bool]] = [names(scope.login)]
    if colleagues:
        terms.append(and_(NOTICE.c.kind.not_in(scope.internal), or_(*colleagues)))
    return or_(*terms)


def sees_notice(scope: Scope, notice: Mapping[str, Any]) -> bool:
    if scope.everything:
        return True
    named = set(notice["recipients"] or ()) | set(notice["cc"] or ())
    if scope.login in named:
        return True
    return notice["kind"] not in scope.internal and bool(named & scope.unit_people)


def require_notice(txn: ReadTxn, notice: Mapping[str, Any]) -> None:
    if not sees_notice(scope_of(txn), notice):
        raise NotVisible(f"没有编号为 {notice['id']} 的通知, 或你无权查看",
                         f"无权查看通知 {notice['id']}")


def history_for(txn: ReadTxn, item: Mapping[str, Any], events: list[dict[str, Any]],
                notices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """An item's history as the person may read it: without the refusals of others and
    without the notices (and timer steps of internal notices) not meant for them."""
    scope = scope_of(txn)
    if scope.everything:
        return events
    visible = {n["id"] for n in notices if sees_notice(scope, n)}
    internal_steps = _internal_steps(txn, item)
    kept = []
    for event in events:
        action = event["action"]
        if action == "refused" and event["actor"] != scope.login:
            continue
        if action == "notice" and event["payload"].get("notice") not in visible:
            continue
        if action.startswith("timer_") and (event["event"] or "").split(":")[0] in internal_steps:
            continue
        kept.append(event)
    return kept


def timers_for(txn: ReadTxn, item: Mapping[str, Any],
               timers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if scope_of(txn).everything:
        return timers
    internal_steps = _internal_steps(txn, item)
    return [t for t in timers if t["step"].split(":")[0] not in internal_steps]


def _internal_steps(txn: ReadTxn, item: Mapping[str, Any]) -> set[str]:
    workflow = txn.registry.get(item["workflow"], item["workflow_version"])
    return {spec.step for spec in workflow.timers if spec.notice in scope_of(txn).internal}


def require_record_keeper(txn: ReadTxn) -> None:
    """The whole record (the audit chain, the stored files) is the office's and the admins'
    to check."""
    if not scope_of(txn).everything:
        raise Refused(f"{txn.actor.name}无权核验审计记录: 只有督查员或管理员可以")
