"""The ledger (台账): every item with where it stands, and the clear-to-zero view.

Filtering, ordering and counting happen in SQL; only the page being shown is enriched in
Python (working days left, colour, the follow-up class, who acts next), so a page costs the
same over a thousand items or a million.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, bindparam, case, func, or_, select, union_all

from duban.engine import evidence
from duban.engine.items import children
from duban.engine.models import ITEM, PERSON, SOURCE_LABELS, UNIT, Role
from duban.engine.periods import Period
from duban.engine.registry import Registry
from duban.engine.visibility import Branch, Narrowing
from duban.engine.workcalendar import WorkCalendar

IDLE_WORKDAYS = 10  # 跟踪问效: no action for this many working days means nobody is acting
COLOURS = {"green": "绿", "yellow": "黄", "red": "红", "": "—"}
FOLLOW_UP = {
    "done": "已办结: 查效果",
    "progress": "办理中: 查进度",
    "not_started": "未启动: 查原因",
    "idle": "无人推动: 查责任",
}
UNIT_SIDE = {Role.handler, Role.unit_head}


@dataclass(frozen=True)
class LedgerFilter:
    unit: str | None = None
    leader: str | None = None
    state: str | None = None
    source: str | None = None
    overdue: bool = False
    period: Period | None = None  # deadlines falling in the period
    open_only: bool = False
    workflow: str | None = None
    text: str | None = None  # search: the number, or words of the title, unit or leader
    states: frozenset[str] | None = None  # any of these states
    where: tuple[Any, ...] = ()  # conditions on the item table (a state named by its label)
    state_label: str | None = None  # the label a state was asked for by, for the heading


ORDER = (ITEM.c.current_deadline, ITEM.c.id)


def query(registry: Registry, flt: LedgerFilter, now: datetime, tz: ZoneInfo,
          visible: Any = None) -> Any:
    """The ledger's SELECT with the filter applied, ordered by deadline; ``visible`` is the
    reader's condition on items (:func:`duban.engine.visibility.item_clause`)."""
    stmt = select(ITEM).order_by(*ORDER)
    conditions = filter_conditions(registry, flt, now, tz)
    if visible is not None:
        conditions.append(visible)
    return stmt.where(*conditions) if conditions else stmt


def filter_conditions(registry: Registry, flt: LedgerFilter, now: datetime,
                      tz: ZoneInfo) -> list[Any]:
    unfinished = registry.state_names(lambda state: not state.finished)
    conditions: list[Any] = []
    if flt.unit:
        conditions.append(ITEM.c.lead_unit == flt.unit)
    if flt.leader:
        conditions.append(ITEM.c.lead_leader == flt.leader)
    if flt.state:
        conditions.append(ITEM.c.state == flt.state)
    if flt.source:
        conditions.append(ITEM.c.source == flt.source)
    if flt.workflow:
        conditions.append(ITEM.c.workflow == flt.workflow)
    if flt.overdue:
        conditions.append(and_(ITEM.c.current_deadline < now, ITEM.c.state.in_(unfinished)))
    if flt.open_only:  # "in" the open states, not "not in" the final ones: an index range
        conditions.append(ITEM.c.state.in_(registry.state_names(lambda s: not s.final)))
    if flt.period is not None:
        start, end = flt.period.bounds(tz)
        conditions.append(and_(ITEM.c.current_deadline >= start, ITEM.c.current_deadline < end))
    if flt.states is not None:
        conditions.append(ITEM.c.state.in_(flt.states))
    conditions.extend(flt.where)
    if flt.text:
        conditions.append(_search(flt.text))
    return conditions


def _search(text: str) -> Any:
    """Items whose number is ``text``, or whose title, unit or leader contains it."""
    words = text.strip()
    terms = [ITEM.c.title.contains(words, autoescape=True),
             ITEM.c.lead_unit == words,
             ITEM.c.lead_unit.in_(select(UNIT.c.code).where(
                 UNIT.c.name.contains(words, autoescape=True))),
             ITEM.c.lead_leader.in_(select(PERSON.c.login).where(
                 PERSON.c.name.contains(words, autoescape=True)))]
    if words.isdigit() and len(words) < 12:
        terms.append(ITEM.c.id == int(words))
    return or_(*terms)


def page(
    conn: Connection,
    registry: Registry,
    flt: LedgerFilter,
    *,
    now: datetime,
    tz: ZoneInfo,
    calendar: WorkCalendar,
    limit: int | None = 200,
    offset: int = 0,
    branches: tuple[Branch, ...] | None = None,
    units: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """A page of the ledger; ``branches`` are the reader's visible items as disjoint
    conditions (:func:`duban.engine.visibility.item_branches`): each gives its first
    ``offset + limit`` rows from its index, and the page is cut from those."""
    if branches is None:
        stmt = query(registry, flt, now, tz)
    elif limit is None:
        stmt = query(registry, flt, now, tz, or_(*(b.condition for b in branches)))
    else:
        conditions = filter_conditions(registry, flt, now, tz)
        firsts = [select(ITEM.c.id).where(branch.condition, *conditions).order_by(*ORDER)
                  .limit(offset + limit).subquery() for branch in branches]
        ids = union_all(*(select(first.c.id) for first in firsts))
        stmt = select(ITEM).where(ITEM.c.id.in_(ids)).order_by(*ORDER)
    if limit is not None:
        stmt = stmt.limit(limit).offset(offset)
    rows = [dict(row) for row in conn.execute(stmt).mappings()]
    return enrich(conn, registry, rows, now=now, tz=tz, calendar=calendar, units=units)


def enrich(
    conn: Connection,
    registry: Registry,
    rows: list[dict[str, Any]],
    *,
    now: datetime,
    tz: ZoneInfo,
    calendar: WorkCalendar,
    units: Mapping[str, Mapping[str, Any]] | None = None,
    rolled: Mapping[int, dict[str, Any]] | None = None,
    evidence_counts: Mapping[int, int] | None = None,
) -> list[dict[str, Any]]:
    """Add what a reader of the ledger wants to each row: names, days, colour, next step.

    ``units`` (the transaction's directory), ``rolled`` (the rows' sub-items, rolled up) and
    ``evidence_counts`` spare the reads of a caller that has them already."""
    names = ({code: unit["name"] for code, unit in units.items()} if units is not None
             else dict(conn.execute(select(UNIT.c.code, UNIT.c.name)).all()))
    today = now.astimezone(tz).date()
    if rolled is None:
        rolled = children(conn, [row["id"] for row in rows]) if rows else {}
    files = (evidence_counts if evidence_counts is not None
             else evidence.counts(conn, [row["id"] for row in rows]))
    for row in rows:
        row["children"] = rolled.get(row["id"])
        row["evidence_count"] = files.get(row["id"], 0)
        workflow = registry.get(row["workflow"], row["workflow_version"])
        state = workflow.state(row["state"])
        left = workdays_left(calendar, today, row["current_deadline"].astimezone(tz).date())
        row["workdays_left"] = left
        row["state_label"] = state.label
        row["source_label"] = SOURCE_LABELS.get(row["source"], row["source"])
        row["lead_unit_name"] = names.get(row["lead_unit"], row["lead_unit"])
        row["co_unit_names"] = [names.get(code, code) for code in row["co_units"] or ()]
        row["colour"] = colour(row, state.finished, left, workflow.yellow_workdays, now)
        row["follow_up"] = follow_up(row, state.finished, workflow.initial, calendar, today, tz)
        row["next_actor"] = state.waiting_on or next_actor(workflow, row["state"])
        row["last_progress"] = row["attrs"].get("last_progress", "")
    return rows


def workdays_left(calendar: WorkCalendar, today: Any, due: Any) -> int:
    """Working days from today to the deadline's day; negative once it has passed."""
    if due >= today:
        return calendar.count_workdays(today, due)
    return -calendar.count_workdays(due, today)


def shown_workdays_left(row: Mapping[str, Any]) -> int | None:
    """Working days left as a printed ledger shows them: none once the item is finished
    (verified or closed: its deadline no longer runs, and a count from it would read as
    overdue), negative while an open item is overdue. ``follow_up`` is "done" exactly when
    the item's state is finished."""
    return None if row["follow_up"] == "done" else row["workdays_left"]


def workflow_labels(registry: Registry) -> dict[str, str]:
    """Each workflow's name → the name the office reads (标准督办, 热线工单, ...)."""
    return {workflow.name: workflow.label for workflow in registry.all_latest()}


def describe(flt: LedgerFilter, registry: Registry, units: Mapping[str, str],
             people: Mapping[str, str]) -> str:
    """What the filter chooses, as the heading of an exported ledger says it: "责任单位
    基础教育科；未销号" ("" for every item); ``units`` maps code → name, ``people`` login →
    name."""
    parts = []
    if flt.unit:
        parts.append(f"责任单位 {units.get(flt.unit, flt.unit)}")
    if flt.leader:
        parts.append(f"牵头领导 {people.get(flt.leader, flt.leader)}")
    chosen = sorted({*([flt.state] if flt.state else ()), *(flt.states or ())})
    if chosen:
        # a state's label as its workflows name it: "closed" is 已销号 in one, 已办结 in another
        workflows = ([registry.latest(flt.workflow)] if flt.workflow in registry.names()
                     else registry.all_latest())
        labels = [state.label for name in chosen for workflow in workflows
                  for state in workflow.states if state.name == name]
        parts.append(f"状态 {'、'.join(dict.fromkeys(labels or chosen))}")
    elif flt.state_label:
        parts.append(f"状态 {flt.state_label}")
    if flt.source:
        parts.append(f"来源 {SOURCE_LABELS.get(flt.source, flt.source)}")
    if flt.workflow:
        parts.append(f"工作流 {workflow_labels(registry).get(flt.workflow, flt.workflow)}")
    if flt.period is not None:
        parts.append(f"完成时限在 {flt.period.label}")
    if flt.overdue:
        parts.append("逾期未办结")
    if flt.open_only:
        parts.append("未销号")
    if flt.text:
        parts.append(f"检索 {flt.text.strip()}")
    return "；".join(parts)


def colour(row: Mapping[str, Any], finished: bool, left: int, yellow_workdays: int,
           now: datetime) -> str:
    """Red when overdue or warned red; yellow near the deadline or warned yellow; else green."""
    if finished:
        return ""
    warning = row["attrs"].get("warning")
    if row["current_deadline"] < now or warning == "red":
        return "red"
    if left <= yellow_workdays or warning == "yellow":
        return "yellow"
    return "green"


def follow_up(row: Mapping[str, Any], finished: bool, initial: str, calendar: WorkCalendar,
              today: Any, tz: ZoneInfo) -> str:
    """跟踪问效: what the office checks for this item."""
    if finished:
        return "done"
    idle_since = row["updated_at"].astimezone(tz).date()
    if calendar.count_workdays(idle_since, today) >= IDLE_WORKDAYS:
        return "idle"
    if row["state"] == initial or "owner" not in row["attrs"]:
        return "not_started"
    return "progress"


def next_actor(workflow: Any, state: str) -> str:
    """Who moves the item on from this state: the unit if it can, else the office."""
    roles: set[Role] = set()
    for event in workflow.events:
        if event.dest is not None and event.dest != state and event.fires_from(state) \
                and "*" not in event.source:
            roles |= set(event.roles)
    if not roles:
        return "—"
    return "承办单位" if roles & UNIT_SIDE else "督查室"


def clear_to_zero(conn: Connection, registry: Registry, now: datetime,
                  per_unit: int = 5, visible: Any = None) -> list[dict[str, Any]]:
    """解决一个、销号一个、及时清零: open items per unit, most first; each unit's oldest
    deadlines first. One grouped query over the open items' index, then a short indexed
    query per unit."""
    open_states = registry.state_names(lambda s: not s.final)
    unfinished = registry.state_names(lambda s: not s.finished)
    open_items = ITEM.c.state.in_(open_states)
    if visible is not None:
        open_items = and_(open_items, visible)
    overdue = and_(ITEM.c.current_deadline < now, ITEM.c.state.in_(unfinished))
    # Grouped by an expression, not the column: SQLite would otherwise walk the unit index
    # for the grouping and read every row; this way it reads the open states' covering index.
    unit = ITEM.c.lead_unit.concat("").label("lead_unit")
    counts = conn.execute(
        select(unit, func.count().label("open"),
               func.sum(case((overdue, 1), else_=0)).label("overdue"),
               func.min(ITEM.c.current_deadline).label("oldest"))
        .where(open_items).group_by(unit)
        .order_by(func.count().desc(), unit)
    ).mappings().all()
    units = dict(conn.execute(select(UNIT.c.code, UNIT.c.name)).all())
    oldest = (select(ITEM.c.id, ITEM.c.title, ITEM.c.current_deadline)
              .where(ITEM.c.lead_unit == bindparam("unit"), open_items)
              .order_by(ITEM.c.current_deadline, ITEM.c.id).limit(per_unit))
    return [{"unit": row["lead_unit"], "unit_name": units.get(row["lead_unit"], row["lead_unit"]),
             "open": row["open"], "overdue": int(row["overdue"] or 0), "oldest": row["oldest"],
             "items": [{"id": i["id"], "title": i["title"], "deadline": i["current_deadline"]}
                       for i in conn.execute(oldest, {"unit": row["lead_unit"]}).mappings()]}
            for row in counts]


def count(conn: Connection, registry: Registry, flt: LedgerFilter, now: datetime,
          tz: ZoneInfo, branches: tuple[Branch, ...] | None = None) -> int:
    """How many items the filter matches: per disjoint branch of what the reader sees."""
    conditions = filter_conditions(registry, flt, now, tz)
    if branches is None:
        return conn.execute(select(func.count()).select_from(ITEM).where(*conditions)
                            ).scalar_one()
    counts = [branch.count if branch.count is not None else
              select(func.count()).select_from(ITEM).where(*conditions, branch.condition)
              for branch in branches]
    return sum(conn.execute(select(*(c.scalar_subquery() for c in counts))).one())


def narrowing(registry: Registry, flt: LedgerFilter, now: datetime, tz: ZoneInfo,
              first: int | None = None) -> Narrowing:
    """What of the filter the co-unit rows can answer by themselves."""
    states: set[str] | None = None
    if flt.open_only:
        states = registry.state_names(lambda s: not s.final)
    if flt.state:
        states = {flt.state} & states if states is not None else {flt.state}
    before = since = None
    if flt.overdue:
        unfinished = registry.state_names(lambda s: not s.finished)
        states = unfinished & states if states is not None else unfinished
        before = now
    if flt.period is not None:
        since, end = flt.period.bounds(tz)
        before = min(before, end) if before is not None else end
    if flt.states is not None:
        states = flt.states & states if states is not None else set(flt.states)
    complete = not (flt.unit or flt.leader or flt.source or flt.workflow or flt.text)
    return Narrowing(None if states is None else frozenset(states), since, before, complete,
                     first)

