"""Set-based timer firing against step by step: on copies of one database, random ticks give
the same items, timers, notices, deliveries and audit chain, row for row."""

from __future__ import annotations

import random
import shutil
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, func, select, update

from duban import workflows
from duban.engine.clock import FixedClock
from duban.engine.items import NewItem
from duban.engine.models import (
    AUDIT_CHECKPOINT,
    AUDIT_EVENT,
    DELIVERY,
    ITEM,
    ITEM_CO_UNIT,
    NOTICE,
    TIMER,
)
from duban.engine.registry import Registry
from duban.engine.service import Service
from duban.engine.settings import Settings
from duban.notifiers.outbox import Outbox
from duban.notifiers.sender import render_waiting
from duban.workflows.standard import WORKFLOW as STANDARD
from tests.conftest import ADMIN, START, build_office

TABLES = (ITEM, ITEM_CO_UNIT, TIMER, NOTICE, DELIVERY, AUDIT_EVENT, AUDIT_CHECKPOINT)
BROKEN = "模拟故障"  # the probe workflow's warning fails on these items
AROUND = "绕过引擎"  # ... and changes these items' rows behind the engine's back


def in_progress_of_unit(ctx, draft) -> None:
    """Reads items from the database: the batch must have written its decisions first."""
    draft.notes["unit_in_progress"] = ctx.conn.execute(
        select(func.count()).select_from(ITEM).where(
            ITEM.c.lead_unit == draft["lead_unit"], ITEM.c.state == "in_progress")).scalar()


def fails_on_some(ctx, draft) -> None:
    if BROKEN in draft["title"]:
        raise ValueError("模板数据异常")
    if AROUND in draft["title"]:
        ctx.conn.execute(update(ITEM).where(ITEM.c.id == draft["id"])
                         .values(version=ITEM.c.version + 1))


def probe_workflow():
    events = tuple(replace(e, effects=(*e.effects, in_progress_of_unit, fails_on_some))
                   if e.name == "warn" else e for e in STANDARD.events)
    return replace(STANDARD, name="probe", label="测试督办", events=events)


REGISTRY = Registry([*Registry.discover((workflows,)).all_versions(), probe_workflow()])


def service_on(path: Path, key: Path, outbox: Path, clock: FixedClock) -> Service:
    config = Settings(db_url=f"sqlite:///{path}", audit_key_path=key,
                      tables={"notices": {"outbox": str(outbox)}})
    return Service(config, clock, registry=REGISTRY,
                   notice_sink=lambda: Outbox.from_settings(config))


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> tuple[Path, Path]:
    """An office with 48 items in several states, deadlines spread over November."""
    folder = tmp_path_factory.mktemp("batch")
    path, key = folder / "duban.db", folder / "audit.key"
    clock = FixedClock(START)
    service = service_on(path, key, folder / "outbox", clock)
    service.init(ADMIN, "管理员")
    office = build_office(service, clock)
    rng = random.Random(7)
    for n in range(48):
        title = (BROKEN if n == 5 else AROUND if n == 17 else "校园安全隐患排查") + f"{n}"
        spec = NewItem(title=title, lead_unit="JJK" if n % 3 else "SYZ",
                       deadline=f"{rng.randint(2, 12)} workdays",
                       workflow="probe" if n % 2 else "standard",
                       co_units=("AQK",) if n % 4 == 0 else (), lead_leader="chen")
        item_id = service.new_item("zhao", spec)["id"]
        if n % 5:
            office.fire("wang" if n % 3 else "lin", item_id, "sign")
        if n % 5 and n % 7 == 1:
            clock.set(START + timedelta(hours=n))
            office.fire("wang" if n % 3 else "lin", item_id, "report", report="已完成整改")
    service.close()
    return path, key


def rows(path: Path) -> dict[str, list[tuple]]:
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        found = {table.name: [tuple(row) for row in conn.execute(
            select(table).order_by(*table.primary_key.columns))] for table in TABLES}
    engine.dispose()
    return found


ticks = st.lists(st.tuples(st.integers(1, 240), st.integers(1, 60)), min_size=1, max_size=4)


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(schedule=ticks)
def test_set_based_batches_write_what_step_by_step_writes(prepared, tmp_path_factory,
                                                          schedule) -> None:
    source, key = prepared
    folder = tmp_path_factory.mktemp("copies")
    outcomes = {}
    for set_based in (True, False):
        path = folder / f"{set_based}.db"
        shutil.copy(source, path)
        clock = FixedClock(START)
        service = service_on(path, key, folder / f"outbox-{set_based}", clock)
        steps = []
        for hours, batch_size in schedule:
            clock.set(clock.now() + timedelta(hours=hours))
            report = service.tick(batch_size=batch_size, set_based=set_based)
            steps.extend((s["timer_id"], s["status"], s["note"]) for s in report.steps)
        assert service.verify_audit().ok
        service.close()
        outcomes[set_based] = (steps, rows(path))
    assert outcomes[True][0] == outcomes[False][0]
    for table in TABLES:
        assert outcomes[True][1][table.name] == outcomes[False][1][table.name], table.name


def test_a_failing_step_and_a_failed_bulk_write_are_each_recorded_once(prepared, tmp_path,
                                                                       caplog):
    """The probe's failing warning is undone and recorded as failed; the row changed around
    the engine makes its batch fall back to step by step, where that step is refused on the
    version and skipped. Everything else fires."""
    source, key = prepared
    path = tmp_path / "duban.db"
    shutil.copy(source, path)
    clock = FixedClock(START + timedelta(days=40))
    service = service_on(path, key, tmp_path / "outbox", clock)
    report = service.tick(batch_size=500)
    assert "改为逐条执行" in caplog.text
    with service.db.read() as conn:
        titles = {row.id: row.title for row in conn.execute(select(ITEM.c.id, ITEM.c.title))}
        failures = conn.execute(select(AUDIT_EVENT.c.item_id, AUDIT_EVENT.c.reason)
                                .where(AUDIT_EVENT.c.action == "timer_failed")).all()
    kind = {item_id: title.rstrip("0123456789") for item_id, title in titles.items()}
    ended = {(kind[s["item_id"]], s["step"], s["status"].value, s["note"])
             for s in report.steps if kind[s["item_id"]] in (BROKEN, AROUND)}
    assert (BROKEN, "yellow", "failed", "ValueError: 模板数据异常") in ended
    assert any(title == AROUND and step == "yellow" and status == "skipped"
               and "刚被他人改动" in note for title, step, status, note in ended)
    assert failures and {kind[item_id] for item_id, _ in failures} == {BROKEN}
    assert len(failures) == report.failed  # each failure recorded once
    assert report.fired > 40 and service.verify_audit().ok
    service.close()


def test_documents_made_after_a_crash_are_the_ones_made_at_once(prepared, tmp_path):
    """A tick commits its firings, then makes their documents. Stopped in between, the sender
    makes them later from what was committed: the same numbers, titles and bodies, though the
    item has been edited meanwhile."""
    source, key = prepared
    made = {}
    for crashed in (False, True):
        path = tmp_path / f"{crashed}.db"
        shutil.copy(source, path)
        clock = FixedClock(START + timedelta(days=9))
        service = service_on(path, key, tmp_path / f"outbox-{crashed}", clock)
        if crashed:
            service.tick(documents=False)  # as if stopped before making the documents
            clock.set(clock.now() + timedelta(hours=5))
            with service.db.read() as conn:
                first = conn.execute(select(NOTICE.c.item_id, NOTICE.c.document)
                                     .where(NOTICE.c.key.like("timer:%"))).first()
            assert first.document is None
            service.edit_item("zhao", first.item_id, {"title": "改过的标题"})
            assert render_waiting(service) > 0
        else:
            service.tick()
        with service.db.read() as conn:
            made[crashed] = conn.execute(
                select(NOTICE.c.key, NOTICE.c.doc_number, NOTICE.c.title, NOTICE.c.body_text,
                       NOTICE.c.body_html, NOTICE.c.document)
                .where(NOTICE.c.key.like("timer:%")).order_by(NOTICE.c.id)).all()
        service.close()
    assert len(made[False]) > 20 and all(row.doc_number for row in made[False])
    assert not any("改过的标题" in row.title for row in made[True])
    assert made[True] == made[False]


def test_a_batch_is_written_at_once_on_either_database(office, caplog):
    """The bulk writes' row counts are what was decided (SQLite and PostgreSQL drivers
    count an executemany's rows alike): the batch is not fired again step by step."""
    ids = [office.item(deadline="2026-11-10 18:00", co_units=("AQK",)) for _ in range(6)]
    for item_id in ids[:3]:
        office.fire("wang", item_id, "sign")
    office.clock.set(START + timedelta(days=20))
    report = office.service.tick(batch_size=50)
    assert "改为逐条执行" not in caplog.text
    assert report.fired >= 12 and report.failed == 0
    items = [office.service.item(ADMIN, item_id) for item_id in ids]
    assert all(item["attrs"]["warning"] == "red" and item["attrs"]["warnings"] == 2
               for item in items)
    assert office.service.verify_audit(ADMIN).ok
