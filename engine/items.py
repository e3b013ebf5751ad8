"""Items: creating them, firing their events, editing their fields, reading them back.

Every write here runs inside the caller's write transaction (:class:`duban.engine.txn.Txn`):
the item's change and its audit event commit together or not at all. The item's version
number guards against two people moving it from the same state at once.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update

from duban.engine import choices, deadlines, notices, timer_store, visibility
from duban.engine.access import role_names, roles_on_item, standing
from duban.engine.audit import canonical
from duban.engine.batch import FIXED_COLUMNS, needs_flush
from duban.engine.deadlines import Deadline
from duban.engine.errors import Conflict, InvalidInput, NotFound, Refused
from duban.engine.evidence import attach
from duban.engine.evidence_store import StoredFile
from duban.engine.fields import to_json
from duban.engine.models import ITEM, ITEM_CO_UNIT, Role, SourceKind
from duban.engine.prepared import Prepared
from duban.engine.timeutil import UTCDateTime, iso
from duban.engine.txn import ReadTxn, Txn
from duban.engine.validation import clean_text, shown
from duban.engine.workflow import Draft, Event, EventContext, Notify, Workflow

EDITABLE = {
    "title": ("标题", 200, False),
    "goal": ("目标", 4000, True),
    "measures": ("工作举措", 4000, True),
}


@dataclass(frozen=True)
class NewItem:
    """What a supervisor gives when registering an item (交办)."""

    title: str
    lead_unit: str
    deadline: datetime | str  # an instant, or an expression: "10 workdays", "3个月"
    workflow: str = "standard"
    goal: str = ""
    measures: str = ""
    source: str = SourceKind.other.value
    lead_leader: str | None = None
    co_units: tuple[str, ...] = ()
    public: bool = False
    parent_id: int | None = None
    attrs: Mapping[str, Any] = field(default_factory=dict)  # the workflow's create_fields


ITEM_BY_ID = select(ITEM).where(ITEM.c.id == bindparam("item_id"))
READ_ITEM = Prepared(ITEM_BY_ID)
READ_ITEM_LOCKED = Prepared(ITEM_BY_ID.with_for_update())
_UPDATES: dict[frozenset[str], Prepared] = {}


def _update_of(columns: frozenset[str]) -> Prepared:
    """The versioned UPDATE of just these columns, built once per set: an event changes
    three to six of the item's twenty."""
    found = _UPDATES.get(columns)
    if found is None:
        found = _UPDATES[columns] = Prepared(
            update(ITEM)
            .where(ITEM.c.id == bindparam("_id"), ITEM.c.version == bindparam("_version"))
            .values({name: bindparam(name) for name in sorted(columns)}))
    return found


def load(txn: ReadTxn, item_id: int, *, for_update: bool = False) -> dict[str, Any]:
    """The item, if the transaction's actor may see it; a missing item and one they may not
    see give the same answer (:mod:`duban.engine.visibility`)."""
    batch = txn.batch_holding(item_id)
    if batch is not None:
        item = batch.item(item_id)  # read with the batch (and locked with its claim)
    else:
        locked = for_update and txn.conn.dialect.name == "postgresql"
        found = (READ_ITEM_LOCKED if locked else READ_ITEM).first(txn.conn, {"item_id": item_id})
        if found is None:
            raise NotFound(visibility.not_found(item_id))
        item = found
    visibility.require_item(txn, item)
    return item


INSTANT_COLUMNS = tuple(column.name for column in ITEM.columns
                        if isinstance(column.type, UTCDateTime))


def thaw(state: Mapping[str, Any]) -> dict[str, Any]:
    """An item kept as JSON (:func:`snapshot`) with its instants back as instants."""
    item = dict(state)
    for name in INSTANT_COLUMNS:
        if item.get(name) is not None:
            item[name] = datetime.fromisoformat(item[name])
    return item


def snapshot(item: Mapping[str, Any]) -> dict[str, Any]:
    """The item as JSON, for audit payloads and ``--json`` output."""
    return canonical(dict(item))


def create(txn: Txn, spec: NewItem, *, notify: bool = True) -> dict[str, Any]:
    """Register an item (交办) with its timetable and its notices."""
    workflow = txn.registry.latest(choices.workflow(txn.registry, spec.workflow, NotFound))
    _require_creator(txn, workflow)
    row = _new_row(txn, spec, workflow)
    row["id"] = txn.conn.execute(insert(ITEM).returning(ITEM.c.id), row).scalar_one()
    _index_co_units(txn, [row])
    _created(txn, row, workflow)
    timer_store.reconcile(txn, row, workflow, new=True)
    if notify:
        _notify(txn, row, workflow.on_create, "created", {"event": "created"})
    return row


def create_many(txn: Txn, specs: list[NewItem]) -> list[dict[str, Any]]:
    """Register many items at once (a task list): one insert for the items and one for their
    timetables. Their own notices are left out: the caller sends each unit one list."""
    rows, flows = [], []
    for spec in specs:
        workflow = txn.registry.latest(spec.workflow)
        _require_creator(txn, workflow)
        rows.append(_new_row(txn, spec, workflow))
        flows.append(workflow)
    if not rows:
        return []
    ids = txn.conn.execute(insert(ITEM).returning(ITEM.c.id, sort_by_parameter_order=True),
                           rows).scalars().all()
    timetable: list[dict[str, Any]] = []
    for row, item_id, workflow in zip(rows, ids, flows, strict=True):
        row["id"] = item_id
        _created(txn, row, workflow)
        timetable.extend(timer_store.new_rows(txn, row, workflow))
    if timetable:
        txn.conn.execute(timer_store.INSERT_TIMER, timetable)
    _index_co_units(txn, rows)
    return rows


CO_UNIT_COLUMNS = {"co_units", "lead_unit", "state", "current_deadline"}


def _index_co_units(txn: Txn, rows: list[dict[str, Any]]) -> None:
    """One ``item_co_unit`` row per co-unit: a unit's items are then an index lookup."""
    pairs = [{"item_id": row["id"], "unit_code": code, "lead_unit": row["lead_unit"],
              "state": row["state"], "current_deadline": row["current_deadline"]}
             for row in rows for code in row["co_units"]]
    if pairs:
        txn.conn.execute(insert(ITEM_CO_UNIT), pairs)


CREATE_LABELS = {"lead_leader": "牵头领导", "goal": "目标", "measures": "工作举措"}


def _new_row(txn: Txn, spec: NewItem, workflow: Workflow) -> dict[str, Any]:
    missing = [CREATE_LABELS.get(name, name) for name in workflow.create_requires
               if not getattr(spec, name, None)]
    if missing:
        raise InvalidInput(f"{workflow.label}必须写明{'、'.join(missing)}")
    deadline = _new_deadline(txn, spec.deadline)
    return {
        **_checked_new_item(txn, spec, deadline.at),
        "attrs": _initial_attrs(txn, workflow, spec.attrs),
        "workflow": workflow.name,
        "workflow_version": workflow.version,
        "state": workflow.initial,
        "original_deadline": deadline.at,
        "current_deadline": deadline.at,
        "deadline_reason": None,
        "deadline_provisional": deadline.provisional,
        "deadline_basis": deadline.basis,
        "deadline_version": 1,
        "state_since": txn.now,
        "clock_start": txn.now,
        "created_by": txn.actor.login,
        "created_at": txn.now,
        "updated_at": txn.now,
        "version": 1,
    }


def _initial_attrs(txn: Txn, workflow: Workflow, given: Mapping[str, Any]) -> dict[str, Any]:
    """Fields a workflow takes at creation (an inspection problem's category), checked."""
    unknown = sorted(set(given) - set(workflow.create_fields))
    if unknown:
        allowed = "、".join(workflow.create_fields) or "无"
        raise InvalidInput(f"{workflow.label}不接受字段 {'、'.join(unknown)}; 可填: {allowed}")
    return {name: to_json(workflow.field_spec(name).parse(value, txn.conn, txn.tz))
            for name, value in given.items()}


def _created(txn: Txn, row: dict[str, Any], workflow: Workflow) -> None:
    txn.audit.append(at=txn.now, actor=txn.actor.login, action="created", item_id=row["id"],
                     to_state=workflow.initial, payload={"item": snapshot(row)})


def fire(
    txn: Txn,
    item_id: int,
    event_name: str,
    raw_values: Mapping[str, Any],
    expected_version: int | None = None,
    *,
    notify: bool = True,
    evidence: Sequence[StoredFile] = (),
) -> dict[str, Any]:
    """Fire one event on one item as the transaction's actor. ``notify=False`` leaves out the
    event's own notices (a timer step that fires an event sends its own instead); ``evidence``
    are the files received with it, cited by its audit event."""
    item = load(txn, item_id, for_update=True)
    workflow = txn.registry.get(item["workflow"], item["workflow_version"])
    event = workflow.event(event_name)
    if event is None:
        names = "、".join(f"{e.name}({e.label})" for e in workflow.events)
        raise NotFound(f"工作流 {workflow.name} 没有事件 {event_name}; 可用事件: {names}")
    if expected_version is not None and expected_version != item["version"]:
        raise Conflict(_changed_meanwhile(item_id))
    roles, on_behalf_of = standing(txn.directory, txn.actor, item, txn.now, wanted=event.roles)
    if not roles & set(event.roles):
        raise Refused(_no_standing(txn, item, event, roles))
    if not event.fires_from(item["state"]):
        raise Refused(_not_now(workflow, item, event.label, txn))
    values = _parse_values(txn, workflow, event, raw_values)
    if event.requires_evidence and not evidence:
        raise InvalidInput(f"{event.label}须附佐证材料: {event.requires_evidence}")
    if txn.batch is not None and needs_flush((*event.guards, *event.effects)):
        txn.batch.flush(txn.conn)  # they may read items the batch has changed
    ctx = EventContext(txn.conn, txn.now, txn.tz, txn.actor, roles, item, values, txn.calendar)
    for guard in event.guards:
        message = guard(ctx)
        if message:
            raise Refused(message)
    draft = Draft(item)
    draft.set("state", txn.registry.fire(workflow, event.name, item["state"]))
    for effect in event.effects:
        effect(ctx, draft)
    shown_values = {k: to_json(v) for k, v in values.items()}
    extra: dict[str, Any] = {"on_behalf_of": on_behalf_of} if on_behalf_of else {}  # 代办
    if evidence:  # the files' hashes in the event's payload: the chain proves them
        extra["evidence"] = attach(txn, item_id, evidence, event=event.name,
                                   item_version=item["version"] + 1)
    saved = save(txn, draft, action="event", event=event.name, reason=values.get("reason"),
                 payload={"values": shown_values, **draft.notes, **extra})
    if notify and event.notices:
        _notify(txn, saved, event.notices, f"{event.name}:{saved['version']}",
                {"event": event.name, "event_label": event.label, "values": shown_values,
                 "notes": draft.notes, "actor": txn.actor.login, "actor_name": txn.actor.name})
    return saved


def _notify(txn: Txn, item: Mapping[str, Any], wanted: tuple[Notify, ...], occasion: str,
            payload: dict[str, Any]) -> None:
    """The notices an event (or the creation) sends, keyed by the item version it made."""
    for n, notice in enumerate(wanted):
        suffix = f":{n}" if n else ""  # a second notice of one kind (to other people)
        notices.request(txn, item, notice.kind,
                        key=f"event:{item['id']}:{occasion}:{notice.kind}{suffix}",
                        to=notice.to, cc=notice.cc, payload=payload)


def edit(txn: Txn, item_id: int, changes: Mapping[str, str]) -> dict[str, Any]:
    """Change an item's descriptive fields (supervisors only); the old values stay in the audit."""
    item = load(txn, item_id, for_update=True)
    if not txn.actor.has(Role.supervisor):
        raise Refused(f"{txn.actor.name}无权修改事项: 只有督查员可以")
    if not changes:
        raise InvalidInput("没有要修改的内容")
    draft = Draft(item)
    for name, raw in changes.items():
        if name not in EDITABLE:
            raise InvalidInput(f"不能修改字段 {name}; 可修改: {'、'.join(EDITABLE)}")
        label, limit, multiline = EDITABLE[name]
        draft.set(name, clean_text(raw, label, max_length=limit, required=name == "title",
                                   multiline=multiline))
    return save(txn, draft, action="edited")


RECALCULATED = "节假日安排公布后重算"


def possible_events(txn: ReadTxn, workflow: Workflow, item: Mapping[str, Any]) -> list[Event]:
    """The events the transaction's actor could fire on this item now: allowed by role and
    state, and not refused by a guard that depends on the item alone."""
    roles = roles_on_item(txn.directory, txn.actor, item, txn.now)
    ctx = EventContext(txn.conn, txn.now, txn.tz, txn.actor, roles, item, {})
    return [
        event
        for event in workflow.events_from(item["state"])
        if roles & set(event.roles) and not any(guard(ctx) for guard in event.guards)
    ]


def list_items(
    txn: ReadTxn,
    *,
    state: Any = None,
    unit: str | None = None,
    workflow: str | None = None,
    open_only: bool = False,
    final_states: Mapping[str, set[str]] | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """The items the reader may see, by number."""
    query = select(ITEM).order_by(ITEM.c.id)
    visible = visibility.item_clause(visibility.scope_of(txn))
    if visible is not None:
        query = query.where(visible)
    if state is not None:  # a name, or the condition a Chinese label stands for
        query = query.where(ITEM.c.state == state if isinstance(state, str) else state)
    if unit:
        query = query.where(ITEM.c.lead_unit == unit)
    if workflow:
        query = query.where(ITEM.c.workflow == workflow)
    if open_only and final_states:
        finals = {name for names in final_states.values() for name in names}
        query = query.where(ITEM.c.state.not_in(finals))
    rows = txn.conn.execute(query.limit(limit).offset(offset)).mappings()
    return [dict(row) for row in rows]


def children(conn: Connection, parent_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Roll-up of sub-items per parent (任务拆解): how many, how many closed or finished by
    state name, and the earliest deadline still open."""
    return roll_up(conn.execute(
        select(ITEM.c.parent_id, ITEM.c.state, func.count(), func.min(ITEM.c.current_deadline))
        .where(ITEM.c.parent_id.in_(parent_ids)).group_by(ITEM.c.parent_id, ITEM.c.state)))


def roll_up(groups: Iterable[tuple[int, str, int, datetime]]) -> dict[int, dict[str, Any]]:
    """:func:`children` from (parent, state, how many, earliest deadline) groups, for a
    caller that has the sub-items' rows already."""
    found: dict[int, dict[str, Any]] = {}
    for parent_id, state, count, earliest in groups:
        entry = found.setdefault(parent_id, {"total": 0, "by_state": {}, "next_deadline": None})
        entry["total"] += count
        entry["by_state"][state] = count
        if state != "closed" and (entry["next_deadline"] is None
                                  or earliest < entry["next_deadline"]):
            entry["next_deadline"] = earliest
    for entry in found.values():
        entry["closed"] = entry["by_state"].get("closed", 0)
    return found


def open_children(txn: ReadTxn, parent_id: int, done_states: tuple[str, ...]) -> int:
    """How many sub-items of an item are not yet in one of ``done_states``."""
    return txn.conn.execute(
        select(func.count()).select_from(ITEM)
        .where(ITEM.c.parent_id == parent_id, ITEM.c.state.not_in(done_states))
    ).scalar_one()


def save(
    txn: Txn,
    draft: Draft,
    *,
    action: str,
    event: str | None = None,
    reason: str | None = None,
    payload: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write a changed item: version check, timetable, and the audit event with its changes."""
    before = draft.before
    draft.set("updated_at", txn.now)
    draft.set("version", before["version"] + 1)
    if draft["state"] != before["state"]:
        draft.set("state_since", txn.now)
    if draft["current_deadline"] != before["current_deadline"]:
        # A new deadline is a new timetable: its steps are keyed by the new version.
        draft.set("deadline_version", before["deadline_version"] + 1)
        day = draft["current_deadline"].astimezone(txn.tz).date()
        if draft["deadline_basis"] == before["deadline_basis"]:
            draft.set("deadline_basis", {"date": iso(draft["current_deadline"])})
        if draft["deadline_reason"] != RECALCULATED:
            draft.set("deadline_provisional", txn.calendar.provisional_between(day, day))
    changed = draft.changes()
    co_units_moved = bool((before["co_units"] or draft["co_units"])
                          and CO_UNIT_COLUMNS & set(changed))
    batch = txn.batch_holding(before["id"])
    if batch is not None:
        batch.save_item(draft.values, co_units_moved)  # versions checked when written
    else:
        columns = frozenset(changed) - FIXED_COLUMNS
        params = {name: draft.values[name] for name in columns}
        written = _update_of(columns).rowcount(
            txn.conn, {**params, "_id": before["id"], "_version": before["version"]})
        if written != 1:
            raise Conflict(_changed_meanwhile(before["id"]))
        if co_units_moved:
            txn.conn.execute(delete(ITEM_CO_UNIT).where(ITEM_CO_UNIT.c.item_id == before["id"]))
            _index_co_units(txn, [draft.values])
    # The item's timetable follows it in the same transaction.
    workflow = txn.registry.get(draft["workflow"], draft["workflow_version"])
    timer_store.reconcile(txn, draft.values, workflow)
    txn.audit.append(
        at=txn.now,
        actor=txn.actor.login,
        action=action,
        item_id=before["id"],
        event=event,
        from_state=before["state"],
        to_state=draft["state"],
        reason=reason,
        payload={**(payload or {}), "changes": changed},
    )
    return draft.values


def _parse_values(
    txn: Txn, workflow: Workflow, event: Any, raw_values: Mapping[str, Any]
) -> dict[str, Any]:
    allowed = set(event.requires) | set(event.accepts)
    unknown = sorted(name for name, value in raw_values.items() if value is not None
                     and name not in allowed)
    if unknown:
        raise InvalidInput(f"{event.label}不需要 {'、'.join(unknown)}")
    missing = [
        workflow.field_spec(name).label
        for name in event.requires
        if raw_values.get(name) in (None, "")
    ]
    if missing:  # 一次性告知: name everything that is missing at once
        raise InvalidInput(f"{event.label}需要填写: {'、'.join(missing)}")
    values: dict[str, Any] = {}
    for name in (*event.requires, *event.accepts):
        raw = raw_values.get(name)
        if raw not in (None, ""):
            values[name] = workflow.field_spec(name).parse(
                raw, txn.conn, txn.tz, now=txn.now, calendar=txn.calendar, closing=txn.closing
            )
    return values


def _new_deadline(txn: Txn, given: datetime | str) -> Deadline:
    """A deadline as given: an instant, or an expression such as ``10 workdays``."""
    if isinstance(given, datetime):
        day = given.astimezone(txn.tz).date()
        return Deadline(given, txn.calendar.provisional_between(day, day), {"date": iso(given)})
    return deadlines.compute(given, txn.now, txn.calendar, txn.tz, txn.closing)


def _checked_new_item(txn: Txn, spec: NewItem, deadline: datetime) -> dict[str, Any]:
    units = {spec.lead_unit, *spec.co_units}
    known_units, people = txn.directory.units, txn.directory.people  # once per transaction
    problems = [f"未知单位 {shown(code)}" for code in sorted(units - set(known_units))]
    if spec.lead_unit in spec.co_units:
        problems.append("协办单位不能包含牵头(主办)单位")
    if spec.source not in SourceKind.__members__:
        problems.append(f"未知来源 {shown(spec.source)}, 可选: {'、'.join(SourceKind.__members__)}")
    if deadline <= txn.now:
        problems.append("办理期限已经过去")
    if spec.lead_leader is not None:
        leader = people.get(spec.lead_leader)
        if leader is None or not leader["active"]:
            problems.append(f"未知牵头领导 {shown(spec.lead_leader)}")
        elif Role.lead_leader not in leader["roles"]:
            problems.append(f"{leader['name']}({spec.lead_leader}) 不是牵头领导: "
                            "牵头领导须有 lead_leader 角色")
    if spec.parent_id is not None:
        parent = load(txn, spec.parent_id)
        if deadline > parent["current_deadline"]:
            problems.append(f"子任务期限不能晚于上级事项 {spec.parent_id} 的期限")
    if problems:  # 一次性告知
        raise InvalidInput("; ".join(problems))
    return {
        "title": clean_text(spec.title, "标题", max_length=200),
        "goal": clean_text(spec.goal, "目标", max_length=4000, required=False, multiline=True),
        "measures": clean_text(spec.measures, "工作举措", max_length=4000, required=False,
                               multiline=True),
        "source": spec.source,
        "lead_leader": spec.lead_leader,
        "lead_unit": spec.lead_unit,
        "co_units": list(spec.co_units),
        "public": spec.public,
        "parent_id": spec.parent_id,
    }


def _require_creator(txn: Txn, workflow: Workflow) -> None:
    if not set(txn.actor.roles) & set(workflow.creator_roles):
        allowed = role_names(workflow.creator_roles)
        raise Refused(f"{txn.actor.name}无权交办{workflow.label}事项: 只有{allowed}可以"
                      + _creator_hint(txn, workflow))


def _creator_hint(txn: Txn, workflow: Workflow) -> str:
    """An admin (the office's first one is registered as an admin only) is told the command
    that gives them the role; ``--role`` lists all of a person's roles."""
    actor = txn.actor
    if not actor.has(Role.admin):
        return ""
    role = workflow.creator_roles[0]
    options = " ".join(f"--role {name}" for name in (*sorted(actor.roles), role))
    return (f"; 管理员要交办, 请先给自己加上{role_names((role,))}角色: "
            f"duban person edit {shlex.quote(actor.login)} {options}")


def _no_standing(txn: Txn, item: Mapping[str, Any], event: Any, roles: frozenset[Role]) -> str:
    """Why the actor may not fire ``event``: a handler or head of another unit is told the
    item is another unit's, not that only handlers may."""
    actor = txn.actor
    refusal = f"{actor.name}无权对事项 {item['id']} {event.label}"
    unit_roles = {Role.handler, Role.unit_head} & set(event.roles)
    if any(actor.has(role) for role in unit_roles) and actor.unit_code != item["lead_unit"]:
        units = txn.directory.units
        lead = (units.get(item["lead_unit"]) or {}).get("name", item["lead_unit"])
        own = (units.get(actor.unit_code) or {}).get("name", actor.unit_code)
        if Role.co_unit in roles:
            return f"{refusal}: 该事项由{lead}主办, {own}是协办单位"
        return f"{refusal}: 该事项由{lead}承办, 不是{own}的事项"
    return f"{refusal}: 只有{role_names(event.roles)}可以"


def _not_now(workflow: Workflow, item: Mapping[str, Any], label: str, txn: Txn) -> str:
    state = workflow.state_label(item["state"])
    possible = [event.label for event in possible_events(txn, workflow, item)]
    now = f"; 你现在可以: {'、'.join(possible)}" if possible else "; 你现在无可办理的操作"
    return f"事项 {item['id']} 当前状态为“{state}”, 不能{label}{now}"


def _changed_meanwhile(item_id: int) -> str:
    return f"事项 {item_id} 刚被他人改动, 请刷新后重试"
