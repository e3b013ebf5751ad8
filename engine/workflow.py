"""How a workflow is declared: states, events, fields, guards and effects, as plain data.

A workflow module in ``workflows/`` (or the admin's folder) builds a :class:`Workflow` and
exposes it as ``WORKFLOW`` (or several versions as ``WORKFLOWS``). The engine is generic: it
reads these declarations, builds one ``transitions`` machine per workflow version and fires
events on items. Timers and notices are declared here too, by later parts of the engine.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import KW_ONLY, dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from duban.engine.access import Actor
from duban.engine.errors import SetupError
from duban.engine.fields import SATISFACTION_LEVELS, STANDARD_FIELDS, FieldSpec
from duban.engine.models import Role
from duban.engine.timers import Recipient

# The events the period figures count (engine/figures.py), and what ``counts_as`` may name.
COUNTED_EVENTS = ("warn", "summon", "hold_accountable", "reject", "report",
                  "approve_extension", "decline", "transfer", "return_order")
ANY_STATE = "*"


@dataclass(frozen=True)
class State:
    name: str
    label: str
    final: bool = False
    done: bool = False  # the work is done (verified), even if not yet closed
    waiting_on: str = ""  # who moves it on, as the ledger says it; guessed from events if empty

    @property
    def finished(self) -> bool:
        return self.final or self.done


@dataclass(frozen=True)
class Notify:
    """A notice an event sends: its kind (the template ``kinds/<kind>.j2``) and who gets it."""

    kind: str
    to: tuple[Recipient, ...] = (Recipient.owner,)
    cc: tuple[Recipient, ...] = ()


@dataclass(frozen=True)
class EventContext:
    """What guards and effects may look at: the item before the event, the checked inputs."""

    conn: Connection
    now: datetime
    tz: ZoneInfo
    actor: Actor
    roles: frozenset[Role]
    item: Mapping[str, Any]
    values: Mapping[str, Any]
    calendar: Any = None  # engine.workcalendar.WorkCalendar, for effects that count workdays


class Draft:
    """The item while an event changes it; records every change for the audit payload."""

    def __init__(self, item: Mapping[str, Any]) -> None:
        self.before = dict(item)
        # Only containers can be changed in place; copying just them is enough and cheap.
        self.values = {
            name: copy.copy(value) if isinstance(value, (dict, list)) else value
            for name, value in item.items()
        }
        self.notes: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def set(self, name: str, value: Any) -> None:
        if name not in self.values:
            raise KeyError(f"items have no field {name!r}")
        self.values[name] = value

    def attr(self, key: str, default: Any = None) -> Any:
        return self.values["attrs"].get(key, default)

    def set_attr(self, key: str, value: Any) -> None:
        attrs = self.values["attrs"]
        if value is None:
            attrs.pop(key, None)
        else:
            attrs[key] = value

    def changes(self) -> dict[str, tuple[Any, Any]]:
        return {
            name: (self.before[name], value)
            for name, value in self.values.items()
            if self.before.get(name) != value
        }


Guard = Callable[[EventContext], str | None]
Effect = Callable[[EventContext, Draft], None]


@dataclass(frozen=True)
class Event:
    """One thing that can happen to an item, declared with keywords after its name and label:
    ``Event("sign", "签收", source=("assigned",), dest="in_progress", roles=UNIT_SIDE)``.

    ``source`` lists the states it may fire from (``"*"``: any state); ``dest`` is where it
    leads, or ``None`` when it records something without moving the item. ``roles`` says who
    may fire it, relative to the item. ``requires`` and ``accepts`` name fields; guards return
    a refusal message or ``None``; effects change the draft item.

    Two declarations say how the period figures count the event (``engine/figures.py``):
    ``counts_as`` names the counted event it stands for when its own name is not one of them
    (``counts_as="reject"``: a call-back that sends the item back is a redo); ``rating`` is
    the rating (满意 / 基本满意 / 不满意) it records without a ``satisfaction`` field (an event
    taking that field records the rating given in it).
    """

    name: str
    label: str
    _: KW_ONLY
    source: tuple[str, ...]
    dest: str | None
    roles: tuple[Role, ...]
    requires: tuple[str, ...] = ()
    accepts: tuple[str, ...] = ()
    guards: tuple[Guard, ...] = ()
    effects: tuple[Effect, ...] = ()
    notices: tuple[Notify, ...] = ()
    description: str = ""
    # What evidence the event must come with (佐证材料), as a person reads it, e.g.
    # "整改佐证材料(照片、文件)"; empty: files are welcome but not required.
    requires_evidence: str = ""
    counts_as: str = ""
    rating: str = ""

    def __post_init__(self) -> None:
        if self.counts_as and self.counts_as not in COUNTED_EVENTS:
            raise SetupError(f"事件 {self.name} 的 counts_as “{self.counts_as}”无效: 应为"
                             f"{'、'.join(COUNTED_EVENTS)}之一")
        if self.rating and self.rating not in SATISFACTION_LEVELS:
            raise SetupError(f"事件 {self.name} 的评价“{self.rating}”无效: 应为"
                             f"{'、'.join(SATISFACTION_LEVELS)}之一")

    def fires_from(self, state: str) -> bool:
        return ANY_STATE in self.source or state in self.source


@dataclass(frozen=True)
class Workflow:
    """A complete declaration; changing one means a new ``version``."""

    name: str
    version: int
    label: str
    states: tuple[State, ...]
    initial: str
    events: tuple[Event, ...]
    description: str = ""
    fields: tuple[FieldSpec, ...] = ()
    timers: tuple[Any, ...] = ()
    on_create: tuple[Notify, ...] = ()  # notices sent when an item is created
    creator_roles: tuple[Role, ...] = (Role.supervisor,)
    yellow_workdays: int = 3  # the ledger shows yellow this many working days before the deadline
    create_requires: tuple[str, ...] = ()  # what a new item must name, e.g. ("lead_leader",)
    create_fields: tuple[str, ...] = ()  # fields given at creation, kept in the item's attrs
    # Notice kinds only the office and the people they name may read (beyond the engine's
    # own: 约谈建议, 问责建议, the office's reminders); not part of the fingerprint.
    internal_notices: tuple[str, ...] = ()

    def state(self, name: str) -> State:
        for state in self.states:
            if state.name == name:
                return state
        raise KeyError(name)

    def event(self, name: str) -> Event | None:
        for event in self.events:
            if event.name == name:
                return event
        return None

    def field_spec(self, name: str) -> FieldSpec:
        for spec in self.fields:
            if spec.name == name:
                return spec
        return STANDARD_FIELDS[name]

    def state_label(self, name: str) -> str:
        try:
            return self.state(name).label
        except KeyError:
            return name

    def events_from(self, state: str) -> list[Event]:
        return [event for event in self.events if event.fires_from(state)]
