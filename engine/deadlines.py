"""Deadline expressions as offices write them, computed on the working-day calendar.

Counting follows the Civil Code (民法典 arts. 201-203): the day of assignment does not count;
``N 个工作日`` ends at the end (or the office's closing time) of the Nth working day after it,
and an item assigned on a day off is received on the next working day, which does not count
either (:meth:`WorkCalendar.workday_limit`);
a period in days or months whose last day is a day off ends on the next working day; a period
in months ends on the same-numbered day (or that month's last day); hours run on the wall clock.
"""

from __future__ import annotations

import calendar as month_calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from duban.engine.errors import InvalidInput
from duban.engine.timeutil import END_OF_DAY, iso, parse_instant
from duban.engine.validation import shown
from duban.engine.workcalendar import WorkCalendar


class Unit(StrEnum):
    workdays = "workdays"
    days = "days"
    months = "months"
    hours = "hours"


UNIT_WORDS = {
    Unit.workdays: ("workdays", "workday", "个工作日", "工作日", "wd"),
    Unit.days: ("days", "day", "天", "日", "自然日", "个自然日"),
    Unit.months: ("months", "month", "个月", "月"),
    Unit.hours: ("hours", "hour", "小时", "个小时", "h"),
}
EXPRESSION = re.compile(r"^\s*(\d{1,4})\s*([^\d\s].*?)\s*$")
UNIT_LABELS = {Unit.workdays: "个工作日", Unit.days: "天", Unit.months: "个月", Unit.hours: "小时"}


@dataclass(frozen=True)
class Period:
    """``amount`` of ``unit``, e.g. 10 working days."""

    amount: int
    unit: Unit

    def __str__(self) -> str:
        return f"{self.amount} {self.unit.value}"

    def label(self) -> str:
        return f"{self.amount}{UNIT_LABELS[self.unit]}"


@dataclass(frozen=True)
class Deadline:
    """A computed deadline, whether it rests on an unpublished year, and how to recompute it."""

    at: datetime
    provisional: bool
    basis: dict[str, Any]


def parse_period(text: str) -> Period | None:
    """``10 workdays``, ``10个工作日``, ``3 months``, ``2 小时`` → Period; a date → None."""
    match = EXPRESSION.match(text)
    if not match:
        return None
    amount, word = int(match.group(1)), match.group(2).strip().lower()
    for unit, words in UNIT_WORDS.items():
        if word in words:
            if amount <= 0:
                raise InvalidInput(f"期限“{text}”须大于零")
            return Period(amount, unit)
    return None


def compute(
    text: str,
    start: datetime,
    calendar: WorkCalendar,
    tz: ZoneInfo,
    closing: time | None = None,
) -> Deadline:
    """The deadline ``text`` means when counted from ``start``: a period or a date."""
    period = parse_period(text)
    if period is None:
        if re.match(r"^\s*\d{4}-\d{2}-\d{2}", text):
            moment = parse_instant(text, tz, end_of_day=True)
            if len(text.strip()) == 10 and closing is not None:
                moment = _end_of(moment.astimezone(tz).date(), tz, closing)
            day = moment.astimezone(tz).date()
            return Deadline(moment, calendar.provisional_between(day, day),
                            {"date": iso(moment)})
        raise InvalidInput(
            f"无法识别的期限“{shown(text)}”: 请写成 2026-12-10、10个工作日、15天、3个月或 2小时"
        )
    return from_period(period, start, calendar, tz, closing)


def from_period(
    period: Period,
    start: datetime,
    calendar: WorkCalendar,
    tz: ZoneInfo,
    closing: time | None = None,
) -> Deadline:
    basis = {"period": str(period), "from": iso(start)}
    if period.unit is Unit.hours:
        return Deadline(start + timedelta(hours=period.amount), False, basis)
    first_day = start.astimezone(tz).date()
    if period.unit is Unit.workdays:
        last_day = calendar.workday_limit(first_day, period.amount)
    elif period.unit is Unit.days:
        last_day = calendar.next_workday(first_day + timedelta(days=period.amount))
    else:
        last_day = calendar.next_workday(add_months(first_day, period.amount))
    provisional = calendar.provisional_between(first_day, last_day)
    return Deadline(_end_of(last_day, tz, closing), provisional, basis)


def recompute(basis: dict[str, Any], calendar: WorkCalendar, tz: ZoneInfo,
              closing: time | None = None) -> Deadline:
    """The same deadline on a newer calendar (after next year's arrangement is loaded)."""
    if "date" in basis:
        moment = datetime.fromisoformat(basis["date"])
        day = moment.astimezone(tz).date()
        return Deadline(moment, calendar.provisional_between(day, day), basis)
    amount, unit = basis["period"].split()
    return from_period(Period(int(amount), Unit(unit)), datetime.fromisoformat(basis["from"]),
                       calendar, tz, closing)


def add_months(day: date, months: int) -> date:
    """The same-numbered day ``months`` later, or that month's last day."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    last = month_calendar.monthrange(year, month)[1]
    return date(year, month, min(day.day, last))


def _end_of(day: date, tz: ZoneInfo, closing: time | None) -> datetime:
    return datetime.combine(day, closing or END_OF_DAY, tzinfo=tz)
