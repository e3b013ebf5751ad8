"""Answers to the calendar questions users ask: a year's arrangement, a day, a deadline."""

from __future__ import annotations

from datetime import date, time
from typing import Any
from zoneinfo import ZoneInfo

from duban.engine.deadlines import compute
from duban.engine.errors import InvalidInput
from duban.engine.timeutil import FIRST_YEAR, LAST_YEAR, iso, parse_instant
from duban.engine.validation import shown
from duban.engine.workcalendar import WorkCalendar, YearStatus


def year_summary(calendar: WorkCalendar, year: int) -> dict[str, Any]:
    arrangement = calendar.arrangement(year)
    official = calendar.is_official(year)
    return {
        "year": year,
        "status": YearStatus.official.value if official else YearStatus.provisional.value,
        "source": arrangement.source if arrangement else "",
        "working_days": calendar.workdays_in_year(year),
        "holidays": sorted(d.isoformat() for d in arrangement.holidays) if arrangement else [],
        "workdays": sorted(d.isoformat() for d in arrangement.workdays) if arrangement else [],
    }


def day_answer(calendar: WorkCalendar, text: str) -> dict[str, Any]:
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"无法识别的日期“{shown(text)}”: 请写成 2026-12-10") from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise InvalidInput(f"日期“{shown(text)}”超出范围: 应在 {FIRST_YEAR} 至 {LAST_YEAR} 年之间")
    return {
        "date": day.isoformat(),
        "workday": calendar.is_workday(day),
        "provisional": not calendar.is_official(day.year),
    }


def deadline_answer(
    calendar: WorkCalendar, tz: ZoneInfo, start: str, period: str, closing: time | None = None
) -> dict:
    moment = parse_instant(start, tz)
    deadline = compute(period, moment, calendar, tz, closing)
    return {
        "start": iso(moment),
        "period": period,
        "deadline": iso(deadline.at),
        "deadline_local": deadline.at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
        "provisional": deadline.provisional,
    }
