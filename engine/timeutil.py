"""Instants in and out: stored as UTC, entered and shown in the office's time zone.

The database keeps every instant as a naive UTC timestamp (portable across SQLite and
PostgreSQL); the :class:`UTCDateTime` column type converts at the boundary so that code above
the store only ever sees timezone-aware values.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy.types import DateTime, TypeDecorator

from duban.engine.errors import InvalidInput
from duban.engine.validation import shown

DEFAULT_TIMEZONE = "Asia/Shanghai"
END_OF_DAY = time(23, 59, 59)


class UTCDateTime(TypeDecorator):
    """Aware datetimes in, aware UTC datetimes out, naive UTC in the column."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def zone(name: str = DEFAULT_TIMEZONE) -> ZoneInfo:
    return ZoneInfo(name)


FIRST_YEAR, LAST_YEAR = 1990, 2100


def parse_instant(text: str, tz: ZoneInfo, *, end_of_day: bool = False) -> datetime:
    """Read a date or date-time as users type it; a bare date means its start (or its end).

    Accepts ``2026-12-10``, ``2026-12-10 17:00``, ``2026-12-10T17:00:00+08:00``. Naive values
    are in the office's time zone.
    """
    raw = text.strip()
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            moment = datetime.combine(day, END_OF_DAY if end_of_day else time(0, 0))
        else:
            moment = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(
            f"无法识别的日期时间“{shown(text)}”: 请写成 2026-12-10 或 2026-12-10 17:00"
        ) from None
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:  # what working days can be counted in
        raise InvalidInput(f"日期“{shown(text)}”超出范围: 应在 {FIRST_YEAR} 至 {LAST_YEAR} 年之间")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(UTC)


def iso(moment: datetime | None) -> str | None:
    """Canonical text of an instant: UTC, microseconds, explicit offset."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def from_iso(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def local_text(moment: datetime | None, tz: ZoneInfo) -> str:
    """How a user reads an instant: local time to the minute."""
    if moment is None:
        return "—"
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")
