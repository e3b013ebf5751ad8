"""Chinese working days: Monday to Friday, minus statutory holidays, plus make-up days (调休).

The State Council publishes each year's arrangement around November. The data of the
``chinese-calendar`` package is loaded once into plain sets (its own lookup rescans its data
on every call); admin year files loaded into the database take precedence. A year with no data
is counted by the weekday rule and every answer that depends on it is marked provisional, so a
deadline reaching into next year never crashes and is never silently wrong.

All arithmetic runs on a sorted array of working-day ordinals and ``bisect``: adding N working
days costs two binary searches, whatever N is.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

HORIZON_YEARS = 3  # years built ahead at first; arithmetic extends the range when it must


class YearStatus(StrEnum):
    official = "official"  # from the published notice
    provisional = "provisional"  # an admin's draft, or no data at all: weekday rule


@dataclass(frozen=True)
class YearArrangement:
    """One year's published arrangement: days off and make-up working days."""

    year: int
    holidays: frozenset[date]
    workdays: frozenset[date]
    status: YearStatus = YearStatus.official
    source: str = ""

    def problems(self) -> list[str]:
        """Everything wrong with the arrangement, all at once (一次性告知)."""
        found = []
        for day in sorted(self.holidays | self.workdays):
            if day.year != self.year:
                found.append(f"{day.isoformat()} 不在 {self.year} 年内")
        for day in sorted(self.holidays & self.workdays):
            found.append(f"{day.isoformat()} 既是假日又是调休上班日")
        for day in sorted(self.workdays):
            if day.weekday() < 5:
                found.append(f"调休上班日 {day.isoformat()} 不是周末")
        return found


class WorkCalendar:
    """Answers "is this a working day" and counts working days, from loaded arrangements."""

    def __init__(self, years: Mapping[int, YearArrangement]) -> None:
        self._years = dict(years)
        self._holidays: set[date] = set()
        self._workdays: set[date] = set()
        for arrangement in self._years.values():
            self._holidays |= arrangement.holidays
            self._workdays |= arrangement.workdays
        known = [y for y, a in self._years.items() if a.status is YearStatus.official]
        self.first_year = min(self._years, default=date.today().year)
        self.last_official_year = max(known, default=self.first_year - 1)
        # Build only around now; older or later dates extend the array on demand (_cover).
        recent = min(self.last_official_year, date.today().year) - 1
        self._build(recent, max(self.last_official_year, date.today().year) + HORIZON_YEARS)

    @classmethod
    def from_package(cls, overrides: Iterable[YearArrangement] = ()) -> WorkCalendar:
        """The ``chinese-calendar`` data, with admin-loaded years taking precedence."""
        from chinese_calendar import constants

        years: dict[int, YearArrangement] = {}
        by_year: dict[int, tuple[set[date], set[date]]] = {}
        for day in constants.holidays:
            by_year.setdefault(day.year, (set(), set()))[0].add(day)
        for day in constants.workdays:
            by_year.setdefault(day.year, (set(), set()))[1].add(day)
        for year, (off, on) in by_year.items():
            years[year] = YearArrangement(
                year, frozenset(off), frozenset(on), source="chinese-calendar"
            )
        for arrangement in overrides:
            years[arrangement.year] = arrangement
        return cls(years)

    # -- questions about days --------------------------------------------------------------

    def arrangement(self, year: int) -> YearArrangement | None:
        return self._years.get(year)

    def is_official(self, year: int) -> bool:
        arrangement = self._years.get(year)
        return arrangement is not None and arrangement.status is YearStatus.official

    def is_workday(self, day: date) -> bool:
        if day in self._workdays:
            return True
        return day.weekday() < 5 and day not in self._holidays

    def add_workdays(self, day: date, count: int) -> date:
        """The ``count``-th working day after ``day`` (``day`` itself does not count);
        a negative count goes back."""
        if count == 0:
            return day
        # Enough calendar days to hold |count| working days even around the longest holidays.
        reach = timedelta(days=abs(count) * 7 // 5 + 30)
        self._cover(day)
        self._cover(day + reach if count > 0 else day - reach)
        ordinal = day.toordinal()
        if count > 0:
            index = bisect_right(self._ordinals, ordinal) + count - 1
        else:
            index = bisect_left(self._ordinals, ordinal) + count
        return date.fromordinal(self._ordinals[index])

    def workday_limit(self, assigned: date, count: int) -> date:
        """The last day of a limit of ``count`` working days (限时办结 N个工作日) set on
        ``assigned``: the item is received that day if it is a working day, else on the next
        working day; the day of receipt does not count, so the limit ends on the
        ``count``-th working day after receipt. This is how offices count, and what
        ``chinese_calendar.find_workday(count, assigned)`` answers: from a working day it is
        ``add_workdays``; from a day off it is one working day later than ``add_workdays``,
        which would count the day of receipt as the first day."""
        if count < 0:
            raise ValueError("a limit counts forward: count must not be negative")
        return self.add_workdays(self.next_workday(assigned), count)

    def next_workday(self, day: date) -> date:
        """``day`` itself if it is a working day, else the first working day after it."""
        return day if self.is_workday(day) else self.add_workdays(day, 1)

    def count_workdays(self, after: date, upto: date) -> int:
        """Working days in (after, upto]."""
        self._cover(after)
        self._cover(upto)
        return bisect_right(self._ordinals, upto.toordinal()) - bisect_right(
            self._ordinals, after.toordinal()
        )

    def workdays_in_year(self, year: int) -> int:
        return self.count_workdays(date(year - 1, 12, 31), date(year, 12, 31))

    def provisional_between(self, start: date, end: date) -> bool:
        """True when any year from ``start`` to ``end`` lacks an official arrangement."""
        low, high = min(start, end), max(start, end)
        return any(not self.is_official(year) for year in range(low.year, high.year + 1))

    # -- the ordinal array -------------------------------------------------------------------

    def _build(self, first_year: int, last_year: int) -> None:
        day, end = date(first_year, 1, 1), date(last_year, 12, 31)
        ordinals = array("i")
        one = timedelta(days=1)
        while day <= end:
            if self.is_workday(day):
                ordinals.append(day.toordinal())
            day += one
        self._ordinals = ordinals
        self._range = (first_year, last_year)

    def _cover(self, day: date) -> None:
        first, last = self._range
        if day.year <= first or day.year >= last:
            self._build(min(first, day.year - 1), max(last, day.year + 1))
