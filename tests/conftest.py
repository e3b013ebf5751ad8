"""Shared fixtures: databases (SQLite and a real PostgreSQL), a clock, a service, an office."""

from __future__ import annotations

import io
import itertools
import os
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, text

from duban.app import build_service
from duban.engine.clock import FixedClock
from duban.engine.db import Database
from duban.engine.directory import NewPerson
from duban.engine.items import NewItem
from duban.engine.schema import upgrade
from duban.engine.service import Service
from duban.engine.settings import Settings
from tests.pgserver import PostgresServer

SHANGHAI = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI)
ADMIN = "admin"
_database_numbers = itertools.count(1)


def local(text_value: str) -> datetime:
    """A local (Beijing) instant from ``2026-11-02 09:00``."""
    return datetime.fromisoformat(text_value).replace(tzinfo=SHANGHAI)


def item_events(service, item_id: int) -> list[dict]:
    """An item's history without the notices its events wrote (those have their own tests)."""
    return [e for e in service.history(ADMIN, item_id) if e["action"] != "notice"]


@pytest.fixture(scope="session")
def pg_admin_url():
    """A PostgreSQL server for the whole run: DUBAN_TEST_PG_URL, or one started here."""
    given = os.environ.get("DUBAN_TEST_PG_URL")
    if given:
        yield given
        return
    server = PostgresServer()
    if not server.available:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is required in CI but initdb/pg_ctl were not found")
        pytest.skip("PostgreSQL server binaries not installed")
    server.start()
    engine = create_engine(server.url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("CREATE DATABASE duban_template"))
    engine.dispose()
    template = Database(server.url.rsplit("/", 1)[0] + "/duban_template")
    with template.write() as conn:
        upgrade(conn)
    template.dispose()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A migrated SQLite file, copied for each test instead of migrating again."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    database = Database(f"sqlite:///{path}", create=True)
    with database.write() as conn:
        upgrade(conn)
    database.dispose()  # closing the last connection folds the WAL back into the file
    return path


def new_database_url(kind: str, tmp_path: Path, request, *, migrated: bool = True) -> str:
    """A new database of ``kind``: migrated (from the session's template), or empty."""
    if kind == "sqlite":
        path = tmp_path / "duban.db"
        if migrated:
            shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    admin_url = request.getfixturevalue("pg_admin_url")
    name = f"t_{os.getpid()}_{next(_database_numbers)}"
    template = " TEMPLATE duban_template" if migrated else ""
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}{template}"))
    engine.dispose()
    return admin_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["sqlite", "postgres"])
def db_kind(request) -> str:
    return request.param


@pytest.fixture
def settings(db_kind, tmp_path, request) -> Settings:
    return Settings(
        db_url=new_database_url(db_kind, tmp_path, request),
        audit_key_path=tmp_path / "keys" / "audit.key",
        tables={"notices": {"outbox": str(tmp_path / "outbox")},
                "evidence": {"folder": str(tmp_path / "evidence")}},
    )


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def service(settings, clock):
    svc = build_service(settings, clock)
    svc.init(ADMIN, "管理员")
    yield svc
    svc.close()


@dataclass
class Office:
    """A small bureau: the supervision office, two sections, a school, their people."""

    service: Service
    clock: FixedClock

    def item(self, unit: str = "JJK", deadline: str = "2026-11-20 18:00", **extra) -> int:
        spec = NewItem(title=extra.pop("title", "校园安全隐患排查"), lead_unit=unit,
                       deadline=local(deadline), **extra)
        return self.service.new_item("zhao", spec)["id"]

    def fire(self, actor: str, item_id: int, event: str, *, attach: dict[str, bytes] | None = None,
             **values):
        files = [(name, io.BytesIO(content)) for name, content in (attach or {}).items()]
        return self.service.fire(actor, item_id, event, values, attachments=files)


def build_office(service: Service, clock: FixedClock) -> Office:
    service.add_unit(ADMIN, "JYJ", "市教育局")
    for code, name in (("DCS", "局督查室"), ("JJK", "基础教育科"), ("AQK", "安全稳定科")):
        service.add_unit(ADMIN, code, name, parent="JYJ")
    service.add_unit(ADMIN, "SYZ", "市第一中学", parent="JJK")
    people = (
        ("chen", "陈局长", "JYJ", ("lead_leader",)),
        ("zhao", "赵督查", "DCS", ("supervisor",)),
        ("zhou", "周科长", "JJK", ()),
        ("wang", "王承办", "JJK", ("handler",)),
        ("liu", "刘科员", "JJK", ()),
        ("zheng", "郑承办", "AQK", ("handler",)),
        ("ma", "马校长", "SYZ", ("unit_head",)),
        ("lin", "林老师", "SYZ", ("handler",)),
    )
    for login, name, unit, roles in people:
        service.add_person(ADMIN, NewPerson(login, name, unit, roles))
    service.set_unit_head(ADMIN, "JJK", "zhou")
    service.set_unit_head(ADMIN, "JYJ", "chen")
    return Office(service, clock)


@pytest.fixture
def office(service, clock) -> Office:
    return build_office(service, clock)
