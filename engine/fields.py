"""Fields an event may require: what they are called, how they are read, how they are checked.

Workflows name fields (``requires=("reason",)``); the engine parses raw strings from the CLI or
any caller into checked values before guards and effects see them. Workflows may declare their
own fields with :class:`FieldSpec`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select

from duban.engine.deadlines import from_period, parse_period
from duban.engine.errors import InvalidInput, NotFound
from duban.engine.models import PERSON, UNIT
from duban.engine.timeutil import iso, parse_instant
from duban.engine.validation import check_code, check_login, clean_text, shown
from duban.engine.workcalendar import WorkCalendar


class FieldKind(StrEnum):
    text = "text"
    long_text = "long_text"
    instant = "instant"
    deadline = "deadline"  # a bare date means the end of that day
    unit = "unit"
    person = "person"
    choice = "choice"


@dataclass(frozen=True)
class FieldSpec:
    """A named input of an event. ``choices`` maps stored values to their Chinese labels."""

    name: str
    label: str
    kind: FieldKind = FieldKind.text
    max_length: int = 500
    choices: Mapping[str, str] | None = None

    def parse(
        self,
        raw: Any,
        conn: Connection,
        tz: ZoneInfo,
        *,
        now: datetime | None = None,
        calendar: WorkCalendar | None = None,
        closing: time | None = None,
    ) -> Any:
        """Turn what the user gave into a checked value, or raise a one-line InvalidInput.

        A deadline may be a date or, given ``now`` and the calendar, a period counted from now
        (``5 workdays``, ``5个工作日``)."""
        if isinstance(raw, datetime) and self.kind in (FieldKind.instant, FieldKind.deadline):
            if raw.tzinfo is None:
                raise InvalidInput(f"{self.label}缺少时区")
            return raw
        text = raw if isinstance(raw, str) else str(raw)
        if self.kind in (FieldKind.text, FieldKind.long_text):
            return clean_text(
                text,
                self.label,
                max_length=self.max_length,
                multiline=self.kind is FieldKind.long_text,
            )
        if self.kind is FieldKind.instant:
            return parse_instant(text, tz)
        if self.kind is FieldKind.deadline:
            period = parse_period(text)
            if period is not None and now is not None and calendar is not None:
                return from_period(period, now, calendar, tz, closing).at
            return parse_instant(text, tz, end_of_day=True)
        if self.kind is FieldKind.unit:
            code = check_code(text, self.label)
            if conn.execute(select(UNIT.c.code).where(UNIT.c.code == code)).first() is None:
                raise NotFound(f"没有代码为 {shown(code)} 的单位")
            return code
        if self.kind is FieldKind.person:
            login = check_login(text)
            if conn.execute(select(PERSON.c.login).where(PERSON.c.login == login)).first() is None:
                raise NotFound(f"没有登录名为 {shown(login)} 的人员")
            return login
        if self.kind is FieldKind.choice:
            choices = self.choices or {}
            value = text.strip()
            if value in choices:
                return value
            by_label = {label: key for key, label in choices.items()}
            if value in by_label:
                return by_label[value]
            allowed = "、".join(f"{key}({label})" for key, label in choices.items())
            raise InvalidInput(f"{self.label}“{shown(text)}”无效: 可选 {allowed}")
        raise AssertionError(f"unknown field kind {self.kind}")

    def display(self, value: Any) -> str:
        if self.kind is FieldKind.choice and self.choices:
            return self.choices.get(value, str(value))
        return str(value)


def to_json(value: Any) -> Any:
    """Field values as they go into the audit payload."""
    return iso(value) if isinstance(value, datetime) else value


WARNING_LEVELS = {"yellow": "黄色预警", "red": "红色预警"}
# How a caller or proposer rated the answer; the first two count as satisfied in the figures.
SATISFACTION_LEVELS = {"满意": "满意", "基本满意": "基本满意", "不满意": "不满意"}
SATISFIED = ("满意", "基本满意")

STANDARD_FIELDS: dict[str, FieldSpec] = {
    spec.name: spec
    for spec in (
        FieldSpec("reason", "理由", FieldKind.long_text, max_length=2000),
        FieldSpec("report", "办理情况", FieldKind.long_text, max_length=10_000),
        FieldSpec("note", "说明", FieldKind.long_text, max_length=2000),
        FieldSpec("deadline", "办理期限", FieldKind.deadline),
        FieldSpec("unit", "承办单位", FieldKind.unit),
        FieldSpec("person", "人员", FieldKind.person),
        FieldSpec("level", "预警等级", FieldKind.choice, choices=WARNING_LEVELS),
        FieldSpec("at", "时间", FieldKind.instant),
        FieldSpec("place", "地点", FieldKind.text, max_length=200),
        FieldSpec("satisfaction", "满意度", FieldKind.choice, choices=SATISFACTION_LEVELS),
    )
}

