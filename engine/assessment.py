"""The assessment (考核): a score per unit from the period's figures, a ranking, the change
against the previous period, and the circular (通报) that publishes them.

Weights come from the settings file's ``[assessment]`` table; every figure a unit has no data
for (nothing rated, nothing reported) scores full marks rather than zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, select

from duban.engine.errors import SetupError
from duban.engine.figures import Figures, period_figures, totals
from duban.engine.models import ITEM
from duban.engine.periods import Period
from duban.engine.registry import Registry
from duban.engine.workcalendar import WorkCalendar


@dataclass(frozen=True)
class Weights:
    on_time: float = 40.0  # × on-time completion rate
    signing: float = 15.0  # × on-time signing rate
    satisfaction: float = 15.0  # × satisfaction rate
    quality: float = 30.0  # × (1 − redo rate)
    overdue: float = 2.0  # minus, per overdue item
    yellow: float = 1.0  # minus, per yellow warning
    red: float = 3.0  # minus, per red warning
    interview: float = 5.0  # minus, per interview
    accountability: float = 10.0  # minus, per accountability case


def weights_from(table: Mapping[str, Any]) -> Weights:
    known = {f.name for f in fields(Weights)}
    unknown = sorted(set(table) - known)
    if unknown:
        raise SetupError(f"配置 [assessment] 含未知设置项: {', '.join(unknown)}; "
                         f"可用: {', '.join(sorted(known))}")
    try:
        return Weights(**{key: float(value) for key, value in table.items()})
    except (TypeError, ValueError):
        raise SetupError("配置 [assessment] 的权重应为数字") from None


def score(figures: Figures, weights: Weights) -> float:
    def rate(value: float | None) -> float:
        return 1.0 if value is None else value

    redo = figures.redo_rate
    total = (weights.on_time * rate(figures.on_time_rate)
             + weights.signing * rate(figures.signing_rate)
             + weights.satisfaction * rate(figures.satisfaction_rate)
             + weights.quality * (1.0 - (redo or 0.0))
             - weights.overdue * figures.overdue
             - weights.yellow * figures.count("warn:yellow")
             - weights.red * figures.count("warn:red")
             - weights.interview * figures.count("summon")
             - weights.accountability * figures.count("hold_accountable"))
    return round(max(total, 0.0), 1)


@dataclass
class Standing:
    figures: Figures
    score: float
    rank: int
    previous_score: float | None = None
    previous_rank: int | None = None

    @property
    def change(self) -> float | None:
        return None if self.previous_score is None else round(self.score - self.previous_score, 1)

    def as_json(self) -> dict[str, Any]:
        return {**self.figures.as_json(), "score": self.score, "rank": self.rank,
                "previous_score": self.previous_score, "previous_rank": self.previous_rank,
                "change": self.change}


def rank(rows: list[Figures], weights: Weights) -> list[Standing]:
    """Highest score first; equal scores share a rank (1, 1, 3)."""
    scored = sorted(((score(row, weights), row) for row in rows), key=lambda p: (-p[0], p[1].key))
    standings: list[Standing] = []
    for position, (value, row) in enumerate(scored, 1):
        tied = standings and standings[-1].score == value
        standings.append(Standing(row, value, standings[-1].rank if tied else position))
    return standings


@dataclass
class Assessment:
    period: Period
    standings: list[Standing]
    total: Figures


def assess(conn: Connection, registry: Registry, period: Period, weights: Weights, *,
           now: datetime, tz: ZoneInfo) -> Assessment:
    rows = period_figures(conn, registry, period, now=now, tz=tz)
    standings = rank(rows, weights)
    before = {s.figures.key: s for s in rank(
        period_figures(conn, registry, period.previous(), now=now, tz=tz), weights)}
    for standing in standings:
        earlier = before.get(standing.figures.key)
        if earlier is not None:
            standing.previous_score, standing.previous_rank = earlier.score, earlier.rank
    return Assessment(period, standings, totals(rows))


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


CIRCULAR_COLUMNS = ["排名", "单位", "到期事项", "按期办结率", "逾期", "预警", "约谈", "得分",
                    "较上期"]


def signed(change: float) -> str:
    """A score's change with its sign, to one decimal; a change that rounds to nothing is
    0.0, never -0.0."""
    shown = f"{change:+.1f}"
    return "0.0" if shown in ("+0.0", "-0.0") else shown


def circular_payload(conn: Connection, registry: Registry, result: Assessment, *,
                     now: datetime, tz: ZoneInfo, calendar: WorkCalendar,
                     per_unit: int = 10) -> dict[str, Any]:
    """What the circular template needs: totals, the table, the good and the slow."""
    rows = []
    for s in result.standings:
        f = s.figures
        warnings = f.count("warn:yellow") + f.count("warn:red")
        change = "—" if s.change is None else signed(s.change)
        rows.append([str(s.rank), f.name, str(f.items), percent(f.on_time_rate), str(f.overdue),
                     str(warnings), str(f.count("summon")), f"{s.score:.1f}", change])
    good = [s.figures.name for s in result.standings
            if s.figures.items and s.figures.on_time == s.figures.items
            and not s.figures.count("warn:yellow") and not s.figures.count("warn:red")]
    _, end = result.period.bounds(tz)
    cutoff = min(now, end)
    finished = registry.state_names(lambda state: state.finished)
    slow = []
    today = cutoff.astimezone(tz).date()
    for s in result.standings:
        if not s.figures.overdue:
            continue
        overdue = conn.execute(
            select(ITEM.c.id, ITEM.c.title, ITEM.c.current_deadline)
            .where(and_(ITEM.c.lead_unit == s.figures.key, ITEM.c.state.not_in(finished),
                        ITEM.c.current_deadline < cutoff))
            .order_by(ITEM.c.current_deadline, ITEM.c.id).limit(per_unit)).mappings().all()
        slow.append({"unit": s.figures.name, "items": [
            {"id": row["id"], "title": row["title"],
             "overdue_workdays": calendar.count_workdays(
                 row["current_deadline"].astimezone(tz).date(), today)} for row in overdue]})
    total = result.total
    return {
        "period": result.period.label,
        "period_code": result.period.code,
        "totals": {"items": total.items, "closed": total.done,
                   "on_time_rate": total.on_time_rate or 0.0, "overdue": total.overdue},
        "instruction_rate": total.instruction_rate,
        "columns": CIRCULAR_COLUMNS,
        "rows": rows,
        "good": good,
        "slow": slow,
    }
