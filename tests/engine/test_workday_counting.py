"""``N个工作日`` counted as offices count it, checked day by day against chinese-calendar.

An item assigned on a day off is received on the next working day, and the day of receipt
does not count: the limit ends on the Nth working day after receipt, which is what
``chinese_calendar.find_workday(N, start)`` answers. Every start day of 2020-2026 is checked.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import chinese_calendar
import pytest

from duban.engine.calendar_view import deadline_answer
from duban.engine.deadlines import compute
from duban.engine.workcalendar import WorkCalendar, YearArrangement, YearStatus
from tests.conftest import SHANGHAI

CALENDAR = WorkCalendar.from_package()
FIRST, LAST = date(2020, 1, 1), date(2026, 12, 31)
COUNTS = (1, 2, 5, 10, 20)


def every_day(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def package_answer(count: int, start: date) -> date | None:
    """chinese-calendar's answer, or None when it reaches a year the package does not know."""
    try:
        return chinese_calendar.find_workday(count, start)
    except NotImplementedError:
        return None


def test_the_years_compared_are_known_to_both():
    # duban's working days come from the package unless an admin loads a year; with nothing
    # loaded, every year compared must be official in duban and known to chinese-calendar.
    for year in range(FIRST.year, LAST.year + 1):
        assert CALENDAR.is_official(year)
        assert chinese_calendar.is_workday(date(year, 7, 1)) == CALENDAR.is_workday(
            date(year, 7, 1))
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(date(LAST.year + 1, 1, 4))
    assert not CALENDAR.is_official(LAST.year + 1)


@pytest.mark.parametrize("count", COUNTS)
def test_every_start_day_counts_as_find_workday(count):
    compared = off_days = beyond = 0
    for start in every_day(FIRST, LAST):
        expected = package_answer(count, start)
        deadline = compute(f"{count}个工作日", datetime.combine(start, time(9), SHANGHAI),
                           CALENDAR, SHANGHAI)
        got = deadline.at.date()
        if expected is None:  # the limit reaches 2027: weekday rule, marked provisional
            assert got.year == LAST.year + 1 and deadline.provisional, start
            beyond += 1
            continue
        assert got == expected, (start, count)
        assert not deadline.provisional
        assert CALENDAR.workday_limit(start, count) == expected
        if chinese_calendar.is_workday(start):
            # from a working day nothing changed: the Nth working day after the start
            assert got == CALENDAR.add_workdays(start, count)
        else:
            # from a day off the day of receipt (the next working day) is not counted
            assert got == CALENDAR.add_workdays(start, count + 1)
            off_days += 1
        compared += 1
    assert compared + beyond == (LAST - FIRST).days + 1
    assert off_days > 800  # weekends and holidays of seven years: the rule was exercised
    assert beyond < 40


def test_a_saturday_assignment_is_received_on_monday_which_does_not_count():
    # 2026-11-07 is a Saturday: received Monday 11-09, which does not count; 11-10 is the first
    # working day, 11-16 the fifth (counting Monday as the first would end on 11-13).
    saturday = datetime(2026, 11, 7, 10, 0, tzinfo=SHANGHAI)
    assert compute("5 workdays", saturday, CALENDAR, SHANGHAI).at == datetime(
        2026, 11, 16, 23, 59, 59, tzinfo=SHANGHAI)
    assert chinese_calendar.find_workday(5, saturday.date()) == date(2026, 11, 16)
    # from Friday 11-06, a working day, the fifth working day after it is 11-13, as before
    friday = datetime(2026, 11, 6, 10, 0, tzinfo=SHANGHAI)
    assert compute("5 workdays", friday, CALENDAR, SHANGHAI).at.date() == date(2026, 11, 13)


def test_an_assignment_in_the_spring_festival_counts_from_the_first_day_back():
    # 2026-02-15 to 02-23 are days off; 02-24 is the day of receipt and does not count.
    deadline = compute("3个工作日", datetime(2026, 2, 18, 9, 0, tzinfo=SHANGHAI), CALENDAR,
                       SHANGHAI, closing=time(17, 30))
    assert deadline.at == datetime(2026, 2, 27, 17, 30, tzinfo=SHANGHAI)  # closing time kept


def test_the_calendar_command_answers_by_the_same_rule():
    answer = deadline_answer(CALENDAR, SHANGHAI, "2026-10-03 09:00", "5 workdays")
    # National Day: received 10-08 (a working day after the holiday); 10-09, 10-10 (make-up
    # Saturday), 10-12, 10-13, 10-14.
    assert answer["deadline_local"] == "2026-10-14 23:59"
    assert answer["deadline_local"][:10] == chinese_calendar.find_workday(
        5, date(2026, 10, 3)).isoformat()
    assert deadline_answer(CALENDAR, SHANGHAI, "2026-10-03 09:00", "5 workdays",
                           closing=time(17, 30))["deadline_local"] == "2026-10-14 17:30"


def test_an_admin_loaded_year_is_counted_by_the_same_rule():
    # A (hypothetical) 2027 file: 1/1 off, 1/4 off; a start on Saturday 2027-01-02 is received
    # on Tuesday 1/5, which does not count.
    year_2027 = YearArrangement(2027, frozenset({date(2027, 1, 1), date(2027, 1, 4)}),
                                frozenset(), YearStatus.official, "test notice")
    loaded = WorkCalendar.from_package([year_2027])
    deadline = compute("2个工作日", datetime(2027, 1, 2, 9, 0, tzinfo=SHANGHAI), loaded,
                       SHANGHAI)
    assert deadline.at.date() == date(2027, 1, 7) and not deadline.provisional


def test_a_limit_never_counts_backwards():
    with pytest.raises(ValueError):
        CALENDAR.workday_limit(date(2026, 11, 7), -1)


@pytest.mark.parametrize("start", [date(2026, 11, 7), date(2026, 10, 1), date(2026, 11, 6)])
def test_timer_steps_after_an_event_count_from_receipt(start):
    """The extension-decision reminder (2 working days after the request) and the half-time
    reminder count from receipt like every limit: a request made on a day off is received on
    the next working day, which is not counted."""
    from duban import workflows  # noqa: F401 (the packaged workflows)
    from duban.engine.registry import Registry
    from duban.engine.timers import plan

    standard = Registry.discover((workflows,)).latest("standard")
    moment = datetime.combine(start, time(10, 0), tzinfo=SHANGHAI)
    deadline = datetime.combine(CALENDAR.workday_limit(start, 10), time(23, 59), SHANGHAI)
    item = {"state": "extension_requested", "state_since": moment, "created_at": moment,
            "clock_start": moment, "current_deadline": deadline, "deadline_version": 1}
    due = {step.step: step.due_at.date() for step in plan(item, standard.timers, CALENDAR,
                                                          SHANGHAI, moment)}
    assert due["extension_decision"] == package_answer(2, start)
    half = {step.step: step.due_at.date() for step in plan({**item, "state": "in_progress"},
                                                           standard.timers, CALENDAR,
                                                           SHANGHAI, moment)}
    assert half["elapsed_50"] == package_answer(5, start)  # half of 10 working days
