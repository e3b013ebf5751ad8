"""Working days and deadline expressions (pure: no database)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from duban.engine.deadlines import add_months, compute, parse_period, recompute
from duban.engine.errors import InvalidInput
from duban.engine.workcalendar import WorkCalendar, YearArrangement, YearStatus
from tests.conftest import SHANGHAI, local

CALENDAR = WorkCalendar.from_package()


def test_2026_arrangement_as_published():
    assert CALENDAR.workdays_in_year(2026) == 248
    assert CALENDAR.is_workday(date(2026, 2, 14))  # Saturday, make-up day
    assert CALENDAR.is_workday(date(2026, 2, 28))
    assert not CALENDAR.is_workday(date(2026, 2, 16))  # Spring Festival
    assert not CALENDAR.is_workday(date(2026, 10, 7))  # National Day
    assert CALENDAR.is_workday(date(2026, 10, 10))  # Saturday, make-up day
    assert CALENDAR.is_official(2026)
    assert not CALENDAR.is_official(2027)


def test_deadline_across_the_spring_festival():
    start = local("2026-02-10 10:00")
    deadline = compute("5 workdays", start, CALENDAR, SHANGHAI)
    # 2/11, 2/12, 2/13, 2/14 (make-up Saturday), then the holiday to 2/23: 2/24 is the fifth.
    assert deadline.at == datetime(2026, 2, 24, 23, 59, 59, tzinfo=SHANGHAI)
    assert not deadline.provisional


def test_chinese_expressions_and_closing_time():
    start = local("2026-11-25 16:00")
    deadline = compute("3个工作日", start, CALENDAR, SHANGHAI, closing=time(17, 30))
    assert deadline.at == datetime(2026, 11, 30, 17, 30, tzinfo=SHANGHAI)


def test_calendar_days_ending_on_a_holiday_move_to_the_next_working_day():
    start = local("2026-09-26 09:00")
    # 2026-10-01 is National Day; the holiday runs to 10-07; 10-08 is a working day.
    assert compute("5 天", start, CALENDAR, SHANGHAI).at.date() == date(2026, 10, 8)


def test_months_end_on_the_same_day_or_the_months_last_day():
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
    deadline = compute("3个月", local("2026-05-20 09:00"), CALENDAR, SHANGHAI)
    assert deadline.at.date() == date(2026, 8, 20)


def test_hours_run_on_the_wall_clock():
    start = local("2026-02-15 22:00")  # a holiday: hours do not care
    assert compute("2小时", start, CALENDAR, SHANGHAI).at == local("2026-02-16 00:00")


def test_absolute_dates_and_bad_expressions():
    assert compute("2026-12-10", local("2026-11-25 09:00"), CALENDAR, SHANGHAI).at == (
        datetime(2026, 12, 10, 23, 59, 59, tzinfo=SHANGHAI))
    for bad in ("soon", "0 workdays", "十天"):
        with pytest.raises(InvalidInput):
            compute(bad, local("2026-11-25 09:00"), CALENDAR, SHANGHAI)


def test_period_parsing():
    assert str(parse_period("10 workdays")) == "10 workdays"
    assert str(parse_period("15个工作日")) == "15 workdays"
    assert str(parse_period("2 h")) == "2 hours"
    assert parse_period("2026-12-10") is None


def test_a_deadline_into_2027_is_provisional_until_2027_is_loaded():
    start = local("2026-12-25 09:00")
    deadline = compute("10 workdays", start, CALENDAR, SHANGHAI)
    assert deadline.provisional
    assert deadline.at.date() == date(2027, 1, 8)  # weekday rule: 1/1 is not known as a holiday
    # The (hypothetical) 2027 file makes 1/1 a holiday and 1/4 a day off too.
    year_2027 = YearArrangement(2027, frozenset({date(2027, 1, 1), date(2027, 1, 4)}),
                                frozenset(), YearStatus.official, "test notice")
    newer = WorkCalendar.from_package([year_2027])
    again = recompute(deadline.basis, newer, SHANGHAI)
    assert not again.provisional
    assert again.at.date() == date(2027, 1, 12)


def test_year_arrangement_problems_are_listed_at_once():
    bad = YearArrangement(2027, frozenset({date(2026, 5, 1), date(2027, 2, 6)}),
                          frozenset({date(2027, 2, 6), date(2027, 2, 8)}))
    problems = bad.problems()
    assert "2026-05-01 不在 2027 年内" in problems
    assert "2027-02-06 既是假日又是调休上班日" in problems
    assert "调休上班日 2027-02-08 不是周末" in problems


days = st.dates(min_value=date(2005, 1, 1), max_value=date(2035, 12, 31))
counts = st.integers(min_value=1, max_value=400)


@given(days, counts)
def test_adding_working_days_lands_on_a_working_day(day, count):
    assert CALENDAR.is_workday(CALENDAR.add_workdays(day, count))


@given(days, counts)
def test_adding_is_monotone_in_the_count(day, count):
    assert CALENDAR.add_workdays(day, count) < CALENDAR.add_workdays(day, count + 1)


@given(days, counts)
def test_counting_back_gives_the_count(day, count):
    end = CALENDAR.add_workdays(day, count)
    assert CALENDAR.count_workdays(day, end) == count


@given(days, counts)
def test_going_back_undoes_going_forward_from_a_working_day(day, count):
    start = CALENDAR.next_workday(day)
    assert CALENDAR.add_workdays(CALENDAR.add_workdays(start, count), -count) == start


def test_far_years_extend_the_range():
    assert CALENDAR.add_workdays(date(2070, 6, 1), 1) == date(2070, 6, 2)
    assert CALENDAR.add_workdays(date(2001, 1, 1), -1) == date(2000, 12, 29)
    assert CALENDAR.add_workdays(date(2026, 1, 5), 250) - date(2026, 1, 5) > timedelta(days=300)
