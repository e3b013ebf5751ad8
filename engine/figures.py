"""The period figures per unit or per leader, computed in SQL (never item by item in Python).

For a period [start, end):
- items due in the period (by their current deadline): how many, done, done on time (the
  finally accepted report before the current deadline), overdue (not done, deadline passed),
  every rating they received (whichever event recorded it: a first 不满意 that sent the item
  back counts as well as the final rating), and 批示件 (leaders' instructions) on their own;
- items assigned in the period: signed in time (within the workflow's signing limit);
- events in the period, from the audit log: yellow and red warnings, interviews,
  accountability cases, redos, reports, extensions, returns and transfers.
Units are the items' current lead units (a transferred item counts for the unit holding it),
except returns (退回交办), which count for the unit that sent the item back.

Events are counted by name (``COUNTED_EVENTS``) or by what the workflow declares of them
(``Event.counts_as``: a hotline call-back that sends the item back counts as a redo); a rating
is the ``satisfaction`` value an event was given, or the one it declares (``Event.rating``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, case, func, literal, or_, select

from duban.engine.fields import SATISFIED
from duban.engine.models import AUDIT_EVENT, ITEM, PERSON, UNIT
from duban.engine.periods import Period
from duban.engine.registry import Registry
from duban.engine.workflow import COUNTED_EVENTS, Event

RATING_FIELD = "satisfaction"  # the standard field a rating is given in (engine/fields.py)


@dataclass
class Figures:
    """One unit's (or leader's) figures for a period."""

    key: str
    name: str
    items: int = 0
    done: int = 0
    on_time: int = 0
    overdue: int = 0
    rated: int = 0  # ratings received, not items: an item rated twice counts twice
    satisfied: int = 0
    instructions: int = 0
    instructions_on_time: int = 0
    assigned: int = 0
    signed_on_time: int = 0
    events: dict[str, int] = field(default_factory=dict)

    def count(self, event: str) -> int:
        return self.events.get(event, 0)

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.items if self.items else None

    @property
    def signing_rate(self) -> float | None:
        return self.signed_on_time / self.assigned if self.assigned else None

    @property
    def satisfaction_rate(self) -> float | None:
        return self.satisfied / self.rated if self.rated else None

    @property
    def redo_rate(self) -> float | None:
        reports = self.count("report")
        return self.count("reject") / reports if reports else None

    @property
    def instruction_rate(self) -> float | None:
        return self.instructions_on_time / self.instructions if self.instructions else None

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key, "name": self.name, "items": self.items, "done": self.done,
            "on_time": self.on_time, "overdue": self.overdue,
            "on_time_rate": self.on_time_rate, "signing_rate": self.signing_rate,
            "satisfaction_rate": self.satisfaction_rate, "redo_rate": self.redo_rate,
            "instruction_rate": self.instruction_rate,
            "yellow_warnings": self.count("warn:yellow"), "red_warnings": self.count("warn:red"),
            "interviews": self.count("summon"), "accountability": self.count("hold_accountable"),
            "redos": self.count("reject"), "extensions": self.count("approve_extension"),
            "returns": self.count("decline"), "transfers": self.count("transfer"),
        }


def _flag(expr: Any) -> Any:
    return func.sum(case((expr, 1), else_=0))


def period_figures(
    conn: Connection,
    registry: Registry,
    period: Period,
    *,
    now: datetime,
    tz: ZoneInfo,
    by: str = "unit",
    source: str | None = None,
    visible: Any = None,
    due_only: bool = False,
) -> list[Figures]:
    """Figures per unit (``by="unit"``), per lead leader (``"leader"``) or per problem
    category of inspection items (``"category"``), by key; of one ``source`` only (热线), and
    of the items ``visible`` (a condition on items: a leader's portfolio) when given.
    ``due_only``: the items due and their outcomes, without the signing and the events (one
    query instead of five, for a trend). ``by="unit_source"`` keys them ``unit|source``, for
    :func:`split_by_source`."""
    start, end = period.bounds(tz)
    narrowed = _narrowed(source, visible)
    group = _GROUPS[by]()
    due_in_period = (ITEM.c.current_deadline >= start, ITEM.c.current_deadline < end, *narrowed)
    due = conn.execute(
        select(group.label("key"), *_due_columns(registry, min(now, end)))
        .where(*due_in_period)
        .group_by(group)
    ).mappings().all()
    ratings = _ratings(conn, registry, group, due_in_period)
    if due_only:
        signing, events = [], []
    else:
        signing, events = _signing_and_events(conn, registry, group, start, end, narrowed, by)
    return _collect(_names(conn, by), due, signing, events, ratings)


def due_by_period(conn: Connection, registry: Registry, periods: Sequence[Period], *,
                  now: datetime, tz: ZoneInfo, source: str | None = None,
                  visible: Any = None) -> dict[str, Figures]:
    """The whole office's items due in each of several periods that do not overlap (a trend,
    month by month), and their outcomes, in one query and one for their ratings: the same
    numbers as the ``due_only`` totals of :func:`period_figures` for each period."""
    bounds = [(period.code, *period.bounds(tz)) for period in periods]
    bucket = case(*((and_(ITEM.c.current_deadline >= start, ITEM.c.current_deadline < end),
                      code) for code, start, end in bounds), else_=None)
    first, last = min(b[1] for b in bounds), max(b[2] for b in bounds)
    due = (ITEM.c.current_deadline >= first, ITEM.c.current_deadline < last,
           *_narrowed(source, visible))
    rows = conn.execute(
        select(bucket.label("key"), *_due_columns(registry, now)).where(*due).group_by(bucket)
    ).mappings().all()
    ratings = _ratings(conn, registry, bucket, due)
    found = {figures.key: figures for figures in _collect({}, rows, [], [], ratings)}
    return {code: found.get(code, Figures(code, code)) for code, _, _ in bounds}


SPLIT = "|"  # between a unit and a source in the keys of ``by="unit_source"``
_GROUPS = {"unit": lambda: ITEM.c.lead_unit, "leader": lambda: ITEM.c.lead_leader,
           "category": lambda: ITEM.c.attrs["category"].as_string(),
           "term": lambda: ITEM.c.attrs["term"].as_string(),
           "unit_source": lambda: ITEM.c.lead_unit + SPLIT + ITEM.c.source}


def _narrowed(source: str | None, visible: Any) -> list[Any]:
    return [condition for condition in (ITEM.c.source == source if source else None, visible)
            if condition is not None]


def _due_columns(registry: Registry, cutoff: datetime) -> list[Any]:
    """What is counted of the items due: ``cutoff`` is when "overdue" is judged (now, or the
    period's end when it is over; within a period the two agree for every item due in it
    before now)."""
    finished = registry.state_names(lambda s: s.finished)
    attrs = ITEM.c.attrs
    on_time = attrs["on_time"].as_boolean().is_(True)
    done = ITEM.c.state.in_(finished)
    return [func.count().label("items"),
            _flag(done).label("done"), _flag(and_(done, on_time)).label("on_time"),
            _flag(and_(~done, ITEM.c.current_deadline < cutoff)).label("overdue"),
            _flag(ITEM.c.source == "instruction").label("instructions"),
            _flag(and_(ITEM.c.source == "instruction", done, on_time))
            .label("instructions_on_time")]


def _declared(registry: Registry) -> dict[tuple[str, str], Event]:
    """Every event by workflow and name, the latest version's declaration winning: an item
    migrated to a newer version keeps the events it had, counted as that version says."""
    found: dict[tuple[str, str], Event] = {}
    for workflow in sorted(registry.all_versions(), key=lambda wf: (wf.name, wf.version)):
        for event in workflow.events:
            found[workflow.name, event.name] = event
    return found


def _of_workflow(workflow: str, names: Sequence[str]) -> Any:
    """The audit events named ``names`` of the items on this workflow."""
    return and_(ITEM.c.workflow == workflow, AUDIT_EVENT.c.event.in_(sorted(names)))


def _ratings(conn: Connection, registry: Registry, key: Any,
             where: Sequence[Any]) -> list[dict[str, Any]]:
    """Every rating the items matching ``where`` received, by ``key`` and rating: the events
    that take the rating field, with the value given, and those declaring the rating they
    record (``Event.rating``), at whatever time they happened."""
    given = AUDIT_EVENT.c.payload["values"][RATING_FIELD].as_string()
    branches = []
    for (workflow, name), event in _declared(registry).items():
        takes = RATING_FIELD in (*event.requires, *event.accepts)
        if takes or event.rating:
            value = (func.coalesce(given, event.rating) if takes and event.rating
                     else given if takes else literal(event.rating))
            branches.append((_of_workflow(workflow, (name,)), value))
    if not branches:
        return []
    rating = case(*branches, else_=None)
    rows = conn.execute(
        select(key.label("key"), rating.label("rating"), func.count().label("n"))
        .select_from(AUDIT_EVENT.join(ITEM, ITEM.c.id == AUDIT_EVENT.c.item_id))
        .where(AUDIT_EVENT.c.action == "event", or_(*(c for c, _ in branches)), *where)
        .group_by(key, rating)
    ).mappings()
    return [dict(row) for row in rows if row["rating"] is not None]


def _tally(registry: Registry, counted: Sequence[str]) -> tuple[Any, list[str]]:
    """What an audit event counts as, as SQL: its name, or the counted event its workflow
    declares it stands for (``Event.counts_as``); and every name to read."""
    declared: dict[tuple[str, str], list[str]] = {}
    for (workflow, name), event in _declared(registry).items():
        if event.counts_as in counted:
            declared.setdefault((workflow, event.counts_as), []).append(name)
    branches = [(_of_workflow(workflow, events), literal(counts_as))
                for (workflow, counts_as), events in sorted(declared.items())]
    names = set(counted).union(*declared.values())
    if not branches:
        return AUDIT_EVENT.c.event, sorted(names)
    return case(*branches, else_=AUDIT_EVENT.c.event), sorted(names)


def _signing_and_events(conn: Connection, registry: Registry, group: Any, start: datetime,
                        end: datetime, narrowed: list[Any], by: str
                        ) -> tuple[list[Any], list[dict[str, Any]]]:
    attrs = ITEM.c.attrs
    signing = conn.execute(
        select(group.label("key"), func.count().label("assigned"),
               _flag(attrs["signed_on_time"].as_boolean().is_(True)).label("signed_on_time"))
        .where(ITEM.c.created_at >= start, ITEM.c.created_at < end, *narrowed)
        .group_by(group)
    ).mappings().all()
    in_period = (AUDIT_EVENT.c.at >= start, AUDIT_EVENT.c.at < end,
                 AUDIT_EVENT.c.action == "event", *narrowed)
    joined = AUDIT_EVENT.join(ITEM, ITEM.c.id == AUDIT_EVENT.c.item_id)
    by_unit = by in ("unit", "unit_source")
    counted = [name for name in COUNTED_EVENTS
               if name != "warn" and not (by_unit and name == "decline")]
    tally, names = _tally(registry, counted)
    # Everything but the warnings' level comes from the covering index on the events; the
    # payload is read for the warnings alone.
    events = [dict(row) for row in conn.execute(
        select(group.label("key"), tally.label("event"), func.count().label("n"))
        .select_from(joined).where(*in_period, AUDIT_EVENT.c.event.in_(names))
        .group_by(group, tally)
    ).mappings() if row["event"] in counted]  # a name declared elsewhere, undeclared here
    level = AUDIT_EVENT.c.payload["values"]["level"].as_string()
    events += [{"key": row["key"], "event": f"warn:{row['level']}", "n": row["n"]}
               for row in conn.execute(
                   select(group.label("key"), level.label("level"), func.count().label("n"))
                   .select_from(joined).where(*in_period, AUDIT_EVENT.c.event == "warn")
                   .group_by(group, level)).mappings()]
    if by_unit:  # a return counts for the unit that sent the item back, not the next one
        units_of = dict(conn.execute(select(PERSON.c.login, PERSON.c.unit_code)).all())
        split = by == "unit_source"
        returns = select(AUDIT_EVENT.c.actor, ITEM.c.source if split else literal(None),
                         func.count())
        if narrowed or split:  # the items' conditions need the items
            returns = returns.select_from(joined)
        for actor, source, n in conn.execute(
                returns.where(*in_period, AUDIT_EVENT.c.event == "decline")
                .group_by(AUDIT_EVENT.c.actor, *([ITEM.c.source] if split else []))):
            unit = units_of.get(actor)
            key = f"{unit}{SPLIT}{source}" if split and unit else unit
            events.append({"key": key, "event": "decline", "n": n})
    return signing, events


def split_by_source(rows: Sequence[Figures], names: dict[str, str]
                    ) -> tuple[list[Figures], dict[str, Figures]]:
    """Figures keyed ``unit|source`` (``by="unit_source"``) as the units' figures and each
    source's totals: one set of queries for both."""
    units: dict[str, list[Figures]] = {}
    sources: dict[str, list[Figures]] = {}
    for row in rows:
        unit, _, source = row.key.partition(SPLIT)
        units.setdefault(unit, []).append(row)
        sources.setdefault(source, []).append(row)

    def merged(key: str, parts: list[Figures], name: str) -> Figures:
        total = totals(parts)
        total.key, total.name = key, name
        return total

    return ([merged(unit, parts, names.get(unit, unit)) for unit, parts in sorted(units.items())],
            {source: merged(source, parts, source) for source, parts in sources.items()})


def _collect(names: dict[str, str], due: Sequence[Any], signing: Sequence[Any],
             events: Sequence[dict[str, Any]],
             ratings: Sequence[dict[str, Any]] = ()) -> list[Figures]:
    result: dict[str, Figures] = {}

    def get(key: str | None) -> Figures:
        key = key or "—"
        if key not in result:
            result[key] = Figures(key, names.get(key, key))
        return result[key]

    for row in due:
        figures = get(row["key"])
        for name in ("items", "done", "on_time", "overdue", "instructions",
                     "instructions_on_time"):
            setattr(figures, name, int(row[name] or 0))
    for row in ratings:
        figures = get(row["key"])
        figures.rated += row["n"]
        if row["rating"] in SATISFIED:
            figures.satisfied += row["n"]
    for row in signing:
        figures = get(row["key"])
        figures.assigned, figures.signed_on_time = row["assigned"], int(row["signed_on_time"] or 0)
    for row in events:
        figures = get(row["key"])
        figures.events[row["event"]] = figures.events.get(row["event"], 0) + row["n"]
    return sorted(result.values(), key=lambda f: f.key)


def totals(rows: list[Figures]) -> Figures:
    """The whole office: the sum of every unit's figures."""
    total = Figures("*", "合计")
    for row in rows:
        for name in ("items", "done", "on_time", "overdue", "rated", "satisfied",
                     "instructions", "instructions_on_time", "assigned", "signed_on_time"):
            setattr(total, name, getattr(total, name) + getattr(row, name))
        for event, n in row.events.items():
            total.events[event] = total.events.get(event, 0) + n
    return total


def _names(conn: Connection, by: str) -> dict[str, str]:
    if by == "unit":
        return dict(conn.execute(select(UNIT.c.code, UNIT.c.name)).all())
    if by == "leader":
        return dict(conn.execute(select(PERSON.c.login, PERSON.c.name)).all())
    return {}  # categories are their own names


