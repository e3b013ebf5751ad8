"""The engine's service API: what the CLI, the daemon, the demo and the tests call.

Each write method is one transaction (:meth:`Service.transaction`): the change, its audit
events and the signed checkpoint commit together or not at all. A refused attempt rolls back
and is then recorded on its own, so the log shows who tried what and why it was refused.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from datetime import time as time_of_day
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, insert, select

from duban.engine import (
    access,
    audit,
    calendar_store,
    directory,
    items,
    notices,
    rebuild,
    schema,
    ticker,
    timer_store,
)
from duban.engine.access import Actor, Identity
from duban.engine.clock import Clock, SystemClock
from duban.engine.db import Database
from duban.engine.errors import InvalidInput, Refused
from duban.engine.models import META, Role
from duban.engine.registry import Registry
from duban.engine.settings import Settings
from duban.engine.signing import Signer, ensure_key, load_signer
from duban.engine.timeutil import zone
from duban.engine.validation import shown
from duban.engine.workcalendar import WorkCalendar

T = TypeVar("T")
CALENDAR_RECHECK_SECONDS = 5.0
ActorRef = str | Identity  # a login already identified, or an identity to check in the write
SYSTEM_ACTOR = "system"


@dataclass
class Txn:
    """One write transaction as a given person, at one instant."""

    conn: Connection
    now: datetime
    tz: Any
    actor: Actor
    registry: Registry
    audit: audit.AuditWriter
    calendar: WorkCalendar
    closing: time_of_day | None = None
    outbox: Any = None  # notifiers.outbox.Outbox: where notices are written


@dataclass(frozen=True)
class InitResult:
    schema_before: str | None
    schema_after: str
    key_created: bool
    admin_created: str | None


class Service:
    """Everything duban does, as methods. Build one per process and reuse it."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock | None = None,
        registry: Registry | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.tz = zone(settings.timezone)
        self.db = Database(settings.db_url)
        self._registry = registry
        self._signer: Signer | None = None
        self._calendar: WorkCalendar | None = None
        self._calendar_stamp: tuple[int, Any] | None = None
        self._calendar_checked = 0.0
        self._schema_checked = False
        self._workflows_checked = False
        self._identified: dict[Identity, str] = {}
        self._outbox: Any = None

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            self._registry = Registry.discover(self.settings.workflows_dir)
        return self._registry

    @property
    def outbox(self) -> Any:
        """The notice settings and templates, read once (``notifiers.outbox.Outbox``)."""
        if self._outbox is None:
            from duban.notifiers.config import notice_config
            from duban.notifiers.outbox import Outbox
            from duban.notifiers.render import Renderer

            config = notice_config(self.settings)
            self._outbox = Outbox(config, Renderer(config.templates_dir, self.tz))
        return self._outbox

    @property
    def calendar(self) -> WorkCalendar:
        """Working days: the packaged arrangements and the years admins loaded."""
        with self.reading() as conn:
            return self.calendar_for(conn)

    def calendar_for(self, conn: Connection) -> WorkCalendar:
        """The calendar, rebuilt when an admin has loaded a year since it was built. Another
        process's load is noticed within :data:`CALENDAR_RECHECK_SECONDS` (wall clock: this is
        cache freshness, not business time)."""
        fresh = time.monotonic() - self._calendar_checked < CALENDAR_RECHECK_SECONDS
        if self._calendar is not None and fresh:
            return self._calendar
        stamp = calendar_store.stamp(conn)
        if self._calendar is None or stamp != self._calendar_stamp:
            self._calendar = WorkCalendar.from_package(calendar_store.loaded_years(conn))
            self._calendar_stamp = stamp
        self._calendar_checked = time.monotonic()
        return self._calendar

    def forget_calendar(self) -> None:
        self._calendar = None

    @property
    def signer(self) -> Signer:
        if self._signer is None:
            self._signer = load_signer(self.settings.audit_key_path)
        return self._signer

    def close(self) -> None:
        self.db.dispose()

    # -- transactions -------------------------------------------------------------------

    @contextmanager
    def transaction(self, actor: ActorRef) -> Iterator[Txn]:
        """A write transaction acting as ``actor``: a login, or an identity checked here, in the
        same transaction (one round trip fewer for every command)."""
        signer = self.signer
        with self.db.write() as conn:
            self._check_schema(conn)
            self._check_workflows(conn)
            person = self._resolve(conn, actor)
            writer = audit.AuditWriter(conn, signer, serialize=self.db.is_postgres)
            txn = Txn(conn, self.clock.now(), self.tz, person, self.registry, writer,
                      self.calendar_for(conn), self.settings.closing_time, self.outbox)
            yield txn
            self._finish(txn)

    @contextmanager
    def system_transaction(self) -> Iterator[Txn]:
        """A write transaction of the engine itself (timers), recorded as actor ``system``."""
        signer = self.signer
        with self.db.write() as conn:
            self._check_schema(conn)
            self._check_workflows(conn)
            writer = audit.AuditWriter(conn, signer, serialize=self.db.is_postgres)
            txn = Txn(conn, self.clock.now(), self.tz, access.SYSTEM, self.registry, writer,
                      self.calendar_for(conn), self.settings.closing_time, self.outbox)
            yield txn
            self._finish(txn)

    def _finish(self, txn: Txn) -> None:
        """The end of every write: the notices written get their documents and numbers, then
        the audit events are chained and signed."""
        if self._outbox is not None:
            self._outbox.flush(txn.conn, txn.audit)
        txn.audit.seal(txn.now)

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        with self.db.read() as conn:
            self._check_schema(conn)
            yield conn

    def _write(
        self, actor: ActorRef, operation: str, work: Callable[[Txn], T], item_id: int | None = None
    ) -> T:
        try:
            with self.transaction(actor) as txn:
                return work(txn)
        except (Refused, InvalidInput) as err:
            self._record_refusal(self._label(actor), operation, err, item_id)
            raise

    def _record_refusal(
        self, actor: ActorRef, operation: str, err: Exception, item_id: int | None
    ) -> None:
        try:
            with self.db.write() as conn:
                self._check_schema(conn)
                if item_id is not None and not _item_exists(conn, item_id):
                    item_id = None
                writer = audit.AuditWriter(conn, self.signer, serialize=self.db.is_postgres)
                now = self.clock.now()
                writer.append(
                    at=now, actor=actor, action="refused", item_id=item_id,
                    event=shown(operation), reason=shown(str(err), limit=None),
                    payload={"kind": type(err).__name__},
                )
                writer.seal(now)
        except Exception as failure:  # the refusal is what the user must see; say this too
            logging.getLogger("duban").warning("拒绝记录未能写入审计: %s", failure)

    # -- setup and identity -------------------------------------------------------------

    def init(self, os_login: str, admin_name: str | None = None, demo: bool = False) -> InitResult:
        """Create or upgrade the schema; make the key; register the first admin if none."""
        key_created = ensure_key(self.settings.audit_key_path)
        signer = self.signer
        admin_created = None
        with self.db.write() as conn:
            before, after = schema.upgrade(conn)
            writer = audit.AuditWriter(conn, signer, serialize=self.db.is_postgres)
            now = self.clock.now()
            if before != after:
                writer.append(at=now, actor=os_login, action="schema_upgraded",
                              payload={"from": before, "to": after})
            if demo:
                conn.execute(insert(META), {"key": "demo", "value": "true"})
            if not directory.list_people(conn):
                admin = Actor(os_login, admin_name or os_login, None, frozenset({Role.admin}))
                txn = Txn(conn, now, self.tz, admin, self.registry, writer,
                          self.calendar_for(conn), outbox=self.outbox)
                directory.add_person(
                    txn,
                    directory.NewPerson(login=os_login, name=admin.name, roles=("admin",)),
                    bootstrap=True,
                )
                admin_created = os_login
            writer.seal(now)
        self._schema_checked = True
        return InitResult(before, after, key_created, admin_created)

    def identify(self, os_login: str, act_as: str | None = None) -> str:
        """The login a command acts as (see :func:`engine.access.identify`)."""
        try:
            with self.reading() as conn:
                return access.identify(conn, os_login, act_as).login
        except Refused as err:
            self._record_refusal(f"os:{os_login}", "identify", err, None)
            raise

    # -- directory ----------------------------------------------------------------------

    def add_unit(
        self,
        actor: ActorRef,
        code: str,
        name: str,
        parent: str | None = None,
        head: str | None = None,
    ) -> dict[str, Any]:
        return self._write(actor, "unit_add",
                           lambda txn: directory.add_unit(txn, code, name, parent, head))

    def set_unit_head(self, actor: ActorRef, code: str, head: str) -> dict[str, Any]:
        return self._write(actor, "unit_head", lambda txn: directory.set_unit_head(txn, code, head))

    def set_unit_webhook(self, actor: ActorRef, code: str, url: str | None,
                         style: str = "json") -> dict[str, Any]:
        return self._write(actor, "unit_webhook",
                           lambda txn: directory.set_unit_webhook(txn, code, url, style))

    def add_person(self, actor: ActorRef, spec: directory.NewPerson) -> dict[str, Any]:
        return self._write(actor, "person_add", lambda txn: directory.add_person(txn, spec))

    def set_away(
        self, actor: ActorRef, login: str, until: datetime | None, deputy: str | None = None
    ) -> dict[str, Any]:
        return self._write(actor, "person_away",
                           lambda txn: directory.set_away(txn, login, until, deputy))

    def units(self) -> list[dict[str, Any]]:
        with self.reading() as conn:
            return directory.list_units(conn)

    def people(self, unit: str | None = None) -> list[dict[str, Any]]:
        with self.reading() as conn:
            return directory.list_people(conn, unit)

    # -- items --------------------------------------------------------------------------

    def new_item(self, actor: ActorRef, spec: items.NewItem) -> dict[str, Any]:
        return self._write(actor, "item_new", lambda txn: items.create(txn, spec))

    def fire(
        self,
        actor: ActorRef,
        item_id: int,
        event: str,
        values: Mapping[str, Any] | None = None,
        expected_version: int | None = None,
    ) -> dict[str, Any]:
        return self._write(
            actor, event,
            lambda txn: items.fire(txn, item_id, event, values or {}, expected_version),
            item_id=item_id,
        )

    def edit_item(
        self, actor: ActorRef, item_id: int, changes: Mapping[str, str]
    ) -> dict[str, Any]:
        return self._write(actor, "edit", lambda txn: items.edit(txn, item_id, changes),
                           item_id=item_id)

    def item(self, item_id: int) -> dict[str, Any]:
        with self.reading() as conn:
            return items.load(conn, item_id)

    def possible_events(self, actor: ActorRef, item_id: int) -> list[tuple[str, str]]:
        with self.reading() as conn:
            item = items.load(conn, item_id)
            workflow = self.registry.get(item["workflow"], item["workflow_version"])
            person = self._resolve(conn, actor)
            return items.possible_events(conn, workflow, person, item, self.clock.now(), self.tz)

    def items(self, **filters: Any) -> list[dict[str, Any]]:
        finals = {wf.name: {s.name for s in wf.states if s.final}
                  for wf in self.registry.all_latest()}
        with self.reading() as conn:
            return items.list_items(conn, final_states=finals, **filters)

    def migrate_workflow(self, actor: ActorRef, name: str, from_version: int, to_version: int,
                         mapping: Mapping[str, str], item_ids: list[int] | None = None) -> Any:
        from duban.engine import migrate

        return self._write(actor, "workflow_migrate", lambda txn: migrate.migrate(
            txn, name, from_version, to_version, mapping, item_ids))

    def migration_plan(self, name: str, from_version: int, to_version: int,
                       mapping: Mapping[str, str], item_ids: list[int] | None = None) -> Any:
        from duban.engine import migrate

        with self.reading() as conn:
            return migrate.plan(conn, self.registry.get(name, from_version),
                                self.registry.get(name, to_version), mapping, item_ids)

    def children(self, item_id: int) -> dict[str, Any] | None:
        """The roll-up of an item's sub-items, or None when it has none."""
        with self.reading() as conn:
            return items.children(conn, [item_id]).get(item_id)

    def history(self, item_id: int) -> list[dict[str, Any]]:
        with self.reading() as conn:
            items.load(conn, item_id)
            return audit.item_history(conn, item_id)

    def timers(self, item_id: int) -> list[dict[str, Any]]:
        with self.reading() as conn:
            items.load(conn, item_id)
            return timer_store.item_timers(conn, item_id)

    def notices(self, item_id: int) -> list[dict[str, Any]]:
        with self.reading() as conn:
            return notices.for_item(conn, item_id)

    def tick(self, batch_size: int = 200, should_stop: Callable[[], bool] = lambda: False,
             keep_steps: bool = True) -> ticker.TickReport:
        """Fire every timer step due at the clock's now (see :mod:`engine.ticker`)."""
        return ticker.tick(self, batch_size=batch_size, should_stop=should_stop,
                           keep_steps=keep_steps)

    # -- calendar -----------------------------------------------------------------------

    def load_calendar_year(self, actor: ActorRef, path: Path) -> dict[str, Any]:
        arrangement = calendar_store.read_year_file(path)
        result = self._write(actor, "calendar_load",
                             lambda txn: calendar_store.load_year(txn, arrangement))
        self.forget_calendar()
        return result

    # -- audit --------------------------------------------------------------------------

    def verify_audit(self) -> audit.VerifyReport:
        with self.reading() as conn:
            return audit.verify(conn, self.signer)

    def check_rebuild(self, item_id: int | None = None) -> rebuild.RebuildReport:
        with self.reading() as conn:
            return rebuild.check(conn, item_id)

    def is_demo(self) -> bool:
        with self.reading() as conn:
            return access.is_demo(conn)

    # -- internals ----------------------------------------------------------------------

    def _check_schema(self, conn: Connection) -> None:
        if not self._schema_checked:
            schema.require_current(conn)
            self._schema_checked = True

    def _check_workflows(self, conn: Connection) -> None:
        """Once per process, in the first write: record new workflow versions, refuse an
        edited version that running items use."""
        if not self._workflows_checked:
            from duban.engine import fingerprint

            fingerprint.check(conn, self.registry, self.clock.now())
            self._workflows_checked = True

    def _resolve(self, conn: Connection, actor: ActorRef) -> Actor:
        if isinstance(actor, Identity):
            person = access.identify(conn, actor.os_login, actor.act_as)
            self._identified[actor] = person.login
            return person
        return self._actor(conn, actor)

    def _label(self, actor: ActorRef) -> str:
        """Who a refusal is recorded against: the person, or the unidentified system login."""
        if isinstance(actor, Identity):
            return self._identified.get(actor, f"os:{actor.os_login}")
        return actor

    def _actor(self, conn: Connection, login: str) -> Actor:
        person = access.get_actor(conn, login)
        if person is None:
            raise Refused(f"没有登录名为 {login} 的人员")
        if not person.active:
            raise Refused(f"{person.name}({login}) 已停用")
        return person


def _item_exists(conn: Connection, item_id: int) -> bool:
    from duban.engine.models import ITEM

    return conn.execute(select(ITEM.c.id).where(ITEM.c.id == item_id)).first() is not None
