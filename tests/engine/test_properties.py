"""Random sequences of events by random people: items stay consistent with their audit trail."""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from duban.app import build_service
from duban.engine.clock import FixedClock
from duban.engine.errors import (
    Conflict,
    DubanError,
    InvalidInput,
    NotFound,
    NotVisible,
    Refused,
)
from duban.engine.items import snapshot
from duban.engine.rebuild import replay
from duban.engine.service import Service
from duban.engine.settings import Settings
from duban.workflows.standard import WORKFLOW
from tests.conftest import (
    ADMIN,
    SHANGHAI,
    START,
    Office,
    build_office,
    item_events,
    new_database_url,
)

PEOPLE = ("zhao", "wang", "zheng", "lin", "zhou", "ma", "chen", "liu", ADMIN)
EVENTS = (*(spec.name for spec in WORKFLOW.events), "fly")
STATES = {state.name for state in WORKFLOW.states}
UNKNOWN_EVENT_FIELDS = ("reason", "note", "person")
_example_numbers = itertools.count(1)


# -- a fresh office for every example ---------------------------------------------------------

@dataclass
class OfficeTemplate:
    """A database holding the office and nothing else, copied for each example."""

    kind: str
    settings: Settings
    folder: Path
    admin: Engine | None = None  # PostgreSQL: where databases are created and dropped
    possible: dict = field(default_factory=dict)  # (state, unit, leader) -> (actor, event)s

    @contextmanager
    def copy(self) -> Iterator[Office]:
        number = next(_example_numbers)
        if self.admin is None:
            path = self.folder / f"example_{number}.db"
            shutil.copy(self.settings.db_url.removeprefix("sqlite:///"), path)
            url = f"sqlite:///{path}"
        else:
            base, name = self.settings.db_url.rsplit("/", 1)[1], f"p_{os.getpid()}_{number}"
            self._admin(f"CREATE DATABASE {name} TEMPLATE {base}")
            url = self.settings.db_url.rsplit("/", 1)[0] + "/" + name
        clock = FixedClock(START)
        service = build_service(replace(self.settings, db_url=url), clock)
        try:
            yield Office(service, clock)
        finally:
            service.close()
            if self.admin is None:
                path.unlink()
            else:
                self._admin(f"DROP DATABASE {name}")

    def possible_events(self, service: Service, item_id: int) -> list[tuple[str, str]]:
        """Who may fire what on this item now: it depends only on the item and the office."""
        item = service.item(ADMIN, item_id)
        key = (item["state"], item["lead_unit"], item["lead_leader"])
        if key not in self.possible:
            self.possible[key] = [(actor, name) for actor in PEOPLE
                                  for name, _ in visible_events(service, actor, item_id)]
        return self.possible[key]

    def _admin(self, statement: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(statement))


@pytest.fixture
def office_template(db_kind, tmp_path, request) -> Iterator[OfficeTemplate]:
    settings = Settings(db_url=new_database_url(db_kind, tmp_path, request),
                        audit_key_path=tmp_path / "keys" / "audit.key")
    clock = FixedClock(START)
    service = build_service(settings, clock)
    try:
        service.init(ADMIN, "管理员")
        build_office(service, clock)
    finally:
        service.close()  # a PostgreSQL template must have no open connections
    admin = None
    if db_kind == "postgres":
        admin = create_engine(request.getfixturevalue("pg_admin_url"),
                              isolation_level="AUTOCOMMIT", poolclass=NullPool)
    yield OfficeTemplate(db_kind, settings, tmp_path, admin)
    if admin is not None:
        admin.dispose()


# -- plausible (and implausible) input --------------------------------------------------------

GOOD_TEXTS = st.one_of(
    st.sampled_from(["按期推进", "核查不实, 需重新整改", "第一条\n第二条", " 前后有空格 "]),
    st.text(alphabet="督办理由整改完成abc", min_size=1, max_size=12),
)
BAD_TEXTS = st.sampled_from(
    ["", "  ", "含控制字符\x1b[31m", "零宽\u200b字符", "字" * 201, "字" * 2001, "字" * 10_001])
GOOD = {
    "unit": st.sampled_from(["JJK", "AQK", "SYZ", "DCS", "JYJ"]),
    "level": st.sampled_from(["yellow", "red", "黄色预警", "红色预警"]),
    "person": st.sampled_from(["wang", "zhou"]),
}
BAD = {
    "unit": st.sampled_from(["jjk", "XYZ", "bad code!", ""]),
    "level": st.sampled_from(["orange", "Red", ""]),
    "person": st.sampled_from(["nobody", "bad login!"]),
}
UNREADABLE = st.sampled_from(["下周五", "2026-02-30", "2026/12/01", "12-01", "2026-12-01 25:00"])


def days_from(now, low: int, high: int) -> st.SearchStrategy[str]:
    local_now = now.astimezone(SHANGHAI)
    return st.one_of(
        st.integers(low, high).map(lambda days: f"{local_now + timedelta(days=days):%Y-%m-%d}"),
        st.integers(low * 24, high * 24).map(
            lambda hours: f"{local_now + timedelta(hours=hours):%Y-%m-%d %H:%M}"),
    )


def field_value(data, name: str, now) -> str:
    """Mostly a value that should pass, sometimes one that should not."""
    good = data.draw(st.integers(0, 9), label=f"{name} is good") < 8
    if name == "deadline":
        strategy = days_from(now, 1, 40) if good else st.one_of(days_from(now, -10, 0),
                                                               UNREADABLE)
    elif name == "at":
        strategy = days_from(now, -10, 40) if good else UNREADABLE
    else:
        strategy = (GOOD if good else BAD).get(name, GOOD_TEXTS if good else BAD_TEXTS)
    return data.draw(strategy, label=name)


def event_values(data, event_name: str, now) -> dict[str, str]:
    """Mostly the fields the event names, sometimes one missing, now and then one too many."""
    declared = WORKFLOW.event(event_name)
    names = UNKNOWN_EVENT_FIELDS if declared is None else (*declared.requires, *declared.accepts)
    values = {}
    for name in names:
        if data.draw(st.integers(0, 9), label=f"give {name}") < 9:
            values[name] = field_value(data, name, now)
    if data.draw(st.integers(0, 19), label="extra field") == 0:
        extra = data.draw(st.sampled_from(["reason", "note", "unit", "person", "place"]))
        values.setdefault(extra, field_value(data, extra, now))
    return values


def visible_events(service: Service, actor: str, item_id: int) -> list[tuple[str, str]]:
    """What ``actor`` may do to the item: nothing, when it is not theirs to see."""
    try:
        return service.possible_events(actor, item_id)
    except NotVisible:
        return []


# -- the property -----------------------------------------------------------------------------

def check_step(service: Service, item_id: int, others: dict[int, dict], actor: str,
               event_name: str, values: dict, expected_version: int | None) -> None:
    before = service.item(ADMIN, item_id)
    history_before = item_events(service, item_id)
    try:
        result = service.fire(actor, item_id, event_name, values, expected_version)
    except DubanError as err:
        event(f"outcome: {type(err).__name__}")
        after = service.item(ADMIN, item_id)
        assert after == before, f"{type(err).__name__} but the item changed: {err}"
        history_after = item_events(service, item_id)
        if isinstance(err, (Refused, InvalidInput, NotVisible)):
            assert history_after[:-1] == history_before
            refused = history_after[-1]
            reason = err.reason if isinstance(err, NotVisible) else err.message
            assert (refused["action"], refused["actor"], refused["event"], refused["reason"]) \
                == ("refused", actor, event_name, reason)
        else:
            assert isinstance(err, (NotFound, Conflict)), repr(err)
            assert history_after == history_before
    else:
        event("outcome: fired")
        event(f"fired: {event_name}")
        after = service.item(ADMIN, item_id)
        declared = WORKFLOW.event(event_name)
        assert declared is not None
        assert declared.fires_from(before["state"])
        assert after["state"] == (declared.dest or before["state"])
        assert after["version"] == before["version"] + 1
        assert snapshot(after) == snapshot(result)
        history_after = item_events(service, item_id)
        assert history_after[:-1] == history_before
        last = history_after[-1]
        assert (last["action"], last["actor"], last["event"]) == ("event", actor, event_name)
        assert (last["from_state"], last["to_state"]) == (before["state"], after["state"])
    assert after["state"] in STATES
    for other_id, other in others.items():
        assert service.item(ADMIN, other_id) == other


@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    phases=(Phase.explicit, Phase.generate, Phase.shrink),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_random_events_keep_items_and_their_audit_trail_consistent(office_template, data):
    with office_template.copy() as office:
        service = office.service
        items = []
        for _ in range(data.draw(st.integers(1, 2), label="items")):
            unit = data.draw(st.sampled_from(["JJK", "AQK", "SYZ"]), label="lead unit")
            leader = data.draw(st.sampled_from([None, "chen"]), label="lead leader")
            items.append(office.item(unit=unit, lead_leader=leader))

        for _ in range(data.draw(st.integers(1, 20), label="steps")):
            hours = data.draw(st.sampled_from([0, 0, 0, 1, 30, 200]), label="clock advance")
            office.clock.advance(hours=hours)
            item_id = data.draw(st.sampled_from(items), label="item")
            guided = data.draw(st.integers(0, 9), label="guided") < 7
            possible = guided and office_template.possible_events(service, item_id)
            if possible:
                actor, name = data.draw(st.sampled_from(possible), label="possible event")
            else:
                actor = data.draw(st.sampled_from(PEOPLE), label="actor")
                name = data.draw(st.sampled_from(EVENTS), label="event")
            values = event_values(data, name, office.clock.now())
            version = service.item(ADMIN, item_id)["version"]
            expected_version = data.draw(
                st.sampled_from([None, None, None, None, version, version - 1]),
                label="expected version",
            )
            others = {other: service.item(ADMIN, other) for other in items if other != item_id}
            check_step(service, item_id, others, actor, name, values, expected_version)

        report = service.verify_audit(ADMIN)
        assert report.ok, report.problems
        rebuilt = service.check_rebuild(ADMIN)
        assert rebuilt.ok, rebuilt.mismatches
        for item_id in items:
            stored = service.item(ADMIN, item_id)
            event(f"reached: {stored['state']}")
            replayed = replay(service.history(ADMIN, item_id))
            assert replayed["state"] == stored["state"]
            assert replayed == snapshot(stored)
