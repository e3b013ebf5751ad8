"""Timers declared by workflows, and the plan of when each step of an item falls due.

A :class:`TimerSpec` is data in a workflow: "remind 3 working days before the deadline",
"yellow warning at the deadline", "red warning 5 working days after it", "ask for progress on
the 25th of every month". :func:`plan` is a pure function from an item, its workflow and the
calendar to the steps that should be pending now; the store (:mod:`engine.timer_store`) turns
the plan into rows and the ticker fires them.

A step is keyed by (item, step, deadline version): when the deadline moves, the version moves
and the ladder is planned afresh; a step that fired for one version never fires again for it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field
from datetime import date, datetime, time
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from duban.engine.deadlines import add_months
from duban.engine.workcalendar import WorkCalendar

OFFICE_OPENS = time(9, 0)


class Anchor(StrEnum):
    deadline = "deadline"  # N working days before (negative) or after the current deadline
    elapsed = "elapsed"  # when a percentage of the working days to the deadline has passed
    entered = "entered"  # N working days after the item entered its current state
    monthly = "monthly"  # on a day of every month, while the item is in the timer's states
    assigned = "assigned"  # N working days (or ``months``) after the item was assigned


class Recipient(StrEnum):
    owner = "owner"  # whoever signed for the item, else the lead unit's handlers
    handlers = "handlers"
    unit_head = "unit_head"
    lead_leader = "lead_leader"
    supervisors = "supervisors"
    co_units = "co_units"  # the handlers of the co-units (协办单位)


RECIPIENT_LABELS = {
    Recipient.owner: "责任人",
    Recipient.handlers: "承办人",
    Recipient.unit_head: "单位负责人",
    Recipient.lead_leader: "牵头领导",
    Recipient.supervisors: "督查室",
    Recipient.co_units: "协办单位",
}


@dataclass(frozen=True)
class TimerSpec:
    """One step of a workflow's timetable, declared with keywords after its name and label:
    ``TimerSpec("remind_3", "期限前3个工作日提醒", states=CLOCK, workdays=-3,
    notice="reminder")``."""

    step: str
    label: str
    _: KW_ONLY
    states: tuple[str, ...]
    anchor: Anchor = Anchor.deadline
    workdays: int = 0
    months: int = 0  # Anchor.assigned only: calendar months, the day off moved to a workday
    percent: int | None = None
    day_of_month: int | None = None
    at: time = OFFICE_OPENS
    fire: str | None = None
    values: Mapping[str, str] = field(default_factory=dict)
    notice: str | None = None
    to: tuple[Recipient, ...] = (Recipient.owner,)
    cc: tuple[Recipient, ...] = ()
    skip_after_deadline: bool = False

    def problems(self, states: set[str], events: set[str]) -> list[str]:
        found = [f"状态 {s} 未定义" for s in self.states if s not in states]
        if self.fire is not None and self.fire not in events:
            found.append(f"事件 {self.fire} 未定义")
        if self.fire is None and self.notice is None:
            found.append("既不触发事件也不发通知")
        if self.anchor is Anchor.elapsed and not (self.percent and 0 < self.percent <= 100):
            found.append("百分比须在 1 到 100 之间")
        if self.anchor is Anchor.monthly and not (self.day_of_month and 1 <= self.day_of_month
                                                  <= 28):
            found.append("每月的日期须在 1 到 28 之间")
        return found

    def when(self) -> str:
        """When the step falls due, as the office says it: "期限前 3 个工作日 09:00"."""
        at = f"{self.at:%H:%M}"
        if self.anchor is Anchor.deadline:
            if self.workdays < 0:
                return f"期限前 {-self.workdays} 个工作日 {at}"
            return f"期限后第 {self.workdays} 个工作日 {at}" if self.workdays else "到期时"
        if self.anchor is Anchor.elapsed:
            return f"办理时限的 {self.percent}% 已过时(按工作日计) {at}"
        if self.anchor is Anchor.entered:
            return f"进入该状态后第 {max(self.workdays, 1)} 个工作日 {at}"
        if self.anchor is Anchor.assigned:
            if self.months:
                return f"交办后 {self.months} 个月(遇休息日顺延) {at}"
            return f"交办后第 {max(self.workdays, 1)} 个工作日 {at}"
        return f"每月 {self.day_of_month} 日 {at}"


def step_label(specs: tuple[TimerSpec, ...], step: str) -> str:
    """The Chinese name of a stored step: its spec's label, with the month of a monthly step
    ("每月调度: 报送进展(2026-11)"); the step itself when the workflow no longer has it."""
    name, _, month = step.partition(":")
    spec = next((spec for spec in specs if spec.step == name), None)
    if spec is None:
        return step
    return f"{spec.label}({month})" if month else spec.label


@dataclass(frozen=True)
class PlannedStep:
    step: str  # the spec's step, with the month for monthly steps: "progress_report:2026-11"
    due_at: datetime
    deadline_version: int
    spec: TimerSpec


def plan(
    item: Mapping[str, Any],
    specs: tuple[TimerSpec, ...],
    calendar: WorkCalendar,
    tz: ZoneInfo,
    now: datetime,
) -> list[PlannedStep]:
    """The steps that should be pending for the item in its current state."""
    planned = []
    for spec in specs:
        if item["state"] not in spec.states:
            continue
        due = _due(spec, item, calendar, tz, now)
        if due is None:
            continue
        if spec.anchor is Anchor.monthly:
            local = due.astimezone(tz)
            planned.append(PlannedStep(f"{spec.step}:{local:%Y-%m}", due, 0, spec))
        else:
            planned.append(PlannedStep(spec.step, due, item["deadline_version"], spec))
    return planned


def _due(
    spec: TimerSpec, item: Mapping[str, Any], calendar: WorkCalendar, tz: ZoneInfo, now: datetime
) -> datetime | None:
    deadline: datetime = item["current_deadline"]
    if spec.anchor is Anchor.deadline:
        if spec.workdays == 0:
            return deadline
        day = calendar.add_workdays(deadline.astimezone(tz).date(), spec.workdays)
        return _at(day, spec.at, tz)
    # Working days after an event count from its receipt, as every limit does: a step set
    # off on a day off counts from the next working day (WorkCalendar.workday_limit).
    if spec.anchor is Anchor.entered:
        entered = item["state_since"].astimezone(tz).date()
        return _at(calendar.workday_limit(entered, max(spec.workdays, 1)), spec.at, tz)
    if spec.anchor is Anchor.assigned:
        assigned = item["created_at"].astimezone(tz).date()
        if spec.months:
            return _at(calendar.next_workday(add_months(assigned, spec.months)), spec.at, tz)
        return _at(calendar.workday_limit(assigned, max(spec.workdays, 1)), spec.at, tz)
    if spec.anchor is Anchor.elapsed:
        start = calendar.next_workday(item["clock_start"].astimezone(tz).date())
        total = calendar.count_workdays(start, deadline.astimezone(tz).date())
        if total < 2:
            return None
        elapsed = max(1, math.ceil(total * (spec.percent or 0) / 100))
        return _at(calendar.add_workdays(start, elapsed), spec.at, tz)
    return _next_monthly(spec, now, tz)


def _next_monthly(spec: TimerSpec, now: datetime, tz: ZoneInfo) -> datetime:
    local = now.astimezone(tz)
    candidate = _at(date(local.year, local.month, spec.day_of_month or 1), spec.at, tz)
    if candidate <= now:
        year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
        candidate = _at(date(year, month, spec.day_of_month or 1), spec.at, tz)
    return candidate


def _at(day: date, moment: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, moment, tzinfo=tz)
