"""领导驾驶舱: what one screen tells a leader, from the figures the engine already computes.

Everything is counted in SQL over the items the reader may see (a lead leader: their own
portfolio and their units'; the office: everything), so that the page costs a handful of
grouped queries whatever the number of items. The colours are the ledger's, counted without
reading the items: an open item is red when overdue or warned red, yellow when its deadline
falls before the (N+1)-th working day from today (N the workflow's yellow_workdays: exactly
the ledger's "N working days or fewer left") or warned yellow, green otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from sqlalchemy import and_, case, func, literal, or_, select

from duban.engine import visibility
from duban.engine.figures import (
    SPLIT,
    Figures,
    due_by_period,
    period_figures,
    split_by_source,
    totals,
)
from duban.engine.models import ITEM, SOURCE_LABELS
from duban.engine.periods import Period
from duban.engine.txn import ReadTxn

MONTHS = 6  # the trend: this many months up to the period's last
WALL = 50  # red and overdue items shown on the wall
COLOUR_ORDER = ("red", "yellow", "green")


@dataclass(frozen=True)
class Dashboard:
    period: Period
    portfolio: bool  # a leader's own portfolio, not the whole office
    by_source: tuple[tuple[str, int], ...]
    by_state: tuple[tuple[str, int], ...]
    by_colour: dict[str, int]
    months: tuple[tuple[str, Figures], ...]  # (month label, its totals) oldest first
    units: tuple[tuple[Figures, Figures | None], ...]  # this period, the previous one
    wall: tuple[dict[str, Any], ...]
    hotline: Figures
    by_category: tuple[Figures, ...]
    by_term: tuple[Figures, ...] = ()  # 立行立改 / 长期整改


def dashboard(txn: ReadTxn, period: Period) -> Dashboard:
    visibility.require_figures(txn)
    scope = visibility.scope_of(txn)
    visible = visibility.item_clause(scope)
    open_items = ITEM.c.state.not_in(txn.registry.state_names(lambda s: s.finished))
    where = [open_items] + ([visible] if visible is not None else [])
    shade = _colour(txn)
    by_source: dict[str, int] = {}
    by_state: dict[str, int] = {}
    by_colour = dict.fromkeys(COLOUR_ORDER, 0)
    for source, workflow, version, state, shown, count in txn.conn.execute(
            select(ITEM.c.source, ITEM.c.workflow, ITEM.c.workflow_version, ITEM.c.state,
                   shade.label("colour"), func.count())
            .where(*where)
            .group_by(ITEM.c.source, ITEM.c.workflow, ITEM.c.workflow_version, ITEM.c.state,
                      shade)):
        label = SOURCE_LABELS.get(source, source)
        by_source[label] = by_source.get(label, 0) + count
        state_label = txn.registry.get(workflow, version).state_label(state)
        by_state[state_label] = by_state.get(state_label, 0) + count
        by_colour[shown] += count
    wall = [dict(row) for row in txn.conn.execute(
        select(ITEM.c.id, ITEM.c.title, ITEM.c.lead_unit, ITEM.c.current_deadline)
        .where(*where, shade == "red").order_by(ITEM.c.current_deadline).limit(WALL)
    ).mappings()]
    units = txn.directory.units
    this_period, hotline = _units_and_hotline(txn, period)
    for row in wall:
        row["unit_name"] = units[row["lead_unit"]]["name"] if row["lead_unit"] in units \
            else row["lead_unit"]
        row["overdue"] = row["current_deadline"] < txn.now
    return Dashboard(
        period=period,
        portfolio=not scope.everything,
        by_source=tuple(sorted(by_source.items(), key=lambda kv: -kv[1])),
        by_state=tuple(sorted(by_state.items(), key=lambda kv: -kv[1])),
        by_colour=by_colour,
        months=_trend(txn, _months_up_to(period)),
        units=_with_previous(this_period, _figures(txn, period.previous(), due_only=True)),
        wall=tuple(wall),
        hotline=hotline,
        by_category=tuple(_figures(txn, period, by="category", source="inspection",
                                   due_only=True)),
        by_term=_by_term(txn, period),
    )


def _figures(txn: ReadTxn, period: Period, by: str = "unit", source: str | None = None,
             due_only: bool = False) -> list[Figures]:
    rows = period_figures(txn.conn, txn.registry, period, now=txn.now, tz=txn.tz, by=by,
                          source=source, due_only=due_only,
                          visible=visibility.item_clause(visibility.scope_of(txn)))
    return rows if by != "unit" else visibility.figures_for(txn, rows)


def _units_and_hotline(txn: ReadTxn, period: Period) -> tuple[list[Figures], Figures]:
    """The units' figures and the hotline's, from one set of queries grouped by both."""
    rows = period_figures(txn.conn, txn.registry, period, now=txn.now, tz=txn.tz,
                          by="unit_source",
                          visible=visibility.item_clause(visibility.scope_of(txn)))
    names = {code: unit["name"] for code, unit in txn.directory.units.items()}
    units, _ = split_by_source(rows, names)
    shown = visibility.figures_for(txn, units)
    keys = {row.key for row in shown}
    hotline = totals([row for row in rows
                      if row.key.partition(SPLIT)[2] == "hotline"
                      and row.key.partition(SPLIT)[0] in keys])
    hotline.key, hotline.name = "hotline", "12345 热线"
    return shown, hotline


def _by_term(txn: ReadTxn, period: Period) -> tuple[Figures, ...]:
    """Inspection problems by term, named as the workflow names its choices."""
    rows = _figures(txn, period, by="term", source="inspection", due_only=True)
    labels: dict[str, str] = {}
    if "inspection" in txn.registry.names():
        spec = txn.registry.latest("inspection").field_spec("term")
        labels = dict(spec.choices or ())
    for row in rows:
        row.name = labels.get(row.key, row.name)
    return tuple(rows)


def _trend(txn: ReadTxn, months: list[Period]) -> tuple[tuple[str, Figures], ...]:
    """Month by month, in one query; a unit sees its own units' items only."""
    scope = visibility.scope_of(txn)
    visible = visibility.item_clause(scope)
    if not scope.sees_figures:  # a unit's own figures, as figures_for gives them
        visible = ITEM.c.lead_unit.in_(scope.units)
    found = due_by_period(txn.conn, txn.registry, months, now=txn.now, tz=txn.tz,
                          visible=visible)
    return tuple((month.label, found[month.code]) for month in months)


def _with_previous(now: list[Figures], before: list[Figures]
                   ) -> tuple[tuple[Figures, Figures | None], ...]:
    earlier = {row.key: row for row in before}
    return tuple((row, earlier.get(row.key)) for row in now)


def _months_up_to(period: Period) -> list[Period]:
    last = Period("month", period.end_day.year if period.end_day.month > 1
                  else period.end_day.year - 1, (period.end_day.month - 2) % 12 + 1)
    months = [last]
    while len(months) < MONTHS:
        months.append(months[-1].previous())
    return list(reversed(months))


def _colour(txn: ReadTxn) -> Any:
    """The ledger's colour of an open item, as SQL."""
    today = txn.now.astimezone(txn.tz).date()
    warning = ITEM.c.attrs["warning"].as_string()
    versions = txn.registry.all_versions()
    first_green = {n: txn.calendar.add_workdays(today, n + 1)  # one per yellow threshold
                   for n in {wf.yellow_workdays for wf in versions}}
    by_workflow = {(wf.name, wf.version): datetime.combine(first_green[wf.yellow_workdays],
                                                            time(), txn.tz)
                   for wf in versions}
    near = or_(*(and_(ITEM.c.workflow == name, ITEM.c.workflow_version == version,
                      ITEM.c.current_deadline < cutoff)
                 for (name, version), cutoff in by_workflow.items())) if by_workflow \
        else literal(False)
    return case((or_(ITEM.c.current_deadline < txn.now, warning == "red"), "red"),
                (or_(near, warning == "yellow"), "yellow"), else_="green")
