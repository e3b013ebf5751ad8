"""Assessment periods: a month (2026-11), a quarter (2026-Q4), a half year (2026-H2), a year.

The yearly cycle of the office is built on these: the monthly progress round (months), the
mid-term check (H1), the end-of-term warnings (Q4) and the year-end assessment (the year).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from duban.engine.errors import InvalidInput
from duban.engine.validation import shown

PATTERN = re.compile(r"^(\d{4})(?:-(?:(\d{1,2})|[Qq]([1-4])|[Hh]([12])))?$")


@dataclass(frozen=True)
class Period:
    kind: str  # month / quarter / half / year
    year: int
    index: int  # the month, quarter or half; 1 for a year

    @property
    def first_month(self) -> int:
        return {"month": self.index, "quarter": 3 * self.index - 2,
                "half": 6 * self.index - 5, "year": 1}[self.kind]

    @property
    def months(self) -> int:
        return {"month": 1, "quarter": 3, "half": 6, "year": 12}[self.kind]

    @property
    def start_day(self) -> date:
        return date(self.year, self.first_month, 1)

    @property
    def end_day(self) -> date:
        """The first day after the period."""
        month = self.first_month + self.months
        return date(self.year + (month - 1) // 12, (month - 1) % 12 + 1, 1)

    def bounds(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """[start, end) as instants in the office's time zone."""
        start, end = self.start_day, self.end_day
        return (datetime(start.year, start.month, start.day, tzinfo=tz),
                datetime(end.year, end.month, end.day, tzinfo=tz))

    def previous(self) -> Period:
        if self.index > 1:
            return Period(self.kind, self.year, self.index - 1)
        last = {"month": 12, "quarter": 4, "half": 2, "year": 1}[self.kind]
        return Period(self.kind, self.year - 1, last)

    @property
    def label(self) -> str:
        if self.kind == "month":
            return f"{self.year}年{self.index}月"
        if self.kind == "quarter":
            return f"{self.year}年第{'一二三四'[self.index - 1]}季度"
        if self.kind == "half":
            return f"{self.year}年{'上' if self.index == 1 else '下'}半年"
        return f"{self.year}年度"

    @property
    def code(self) -> str:
        return {"month": f"{self.year}-{self.index:02d}", "quarter": f"{self.year}-Q{self.index}",
                "half": f"{self.year}-H{self.index}", "year": f"{self.year}"}[self.kind]


def parse_period(text: str) -> Period:
    match = PATTERN.match(text.strip())
    if match is None:
        raise InvalidInput(f"无法识别的时段“{shown(text)}”: 请写成 2026-11(月)、2026-Q4(季度)、"
                           "2026-H2(半年) 或 2026(年)")
    year, month, quarter, half = match.groups()
    if month is not None:
        if not 1 <= int(month) <= 12:
            raise InvalidInput(f"月份应在 1 至 12 之间: {shown(text)}")
        return Period("month", int(year), int(month))
    if quarter is not None:
        return Period("quarter", int(year), int(quarter))
    if half is not None:
        return Period("half", int(year), int(half))
    return Period("year", int(year), 1)
