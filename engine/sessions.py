"""Opening a transaction as a person: the machinery under every service method.

A write transaction checks the schema and the workflows once per process, identifies the
actor inside the transaction itself (one round trip fewer for every command), collects audit
events and notices, and ends with the notice sink's flush and the audit seal. A refused
attempt rolls all of that back and is then recorded on its own, so the log shows who tried
what and why it was refused. A read transaction identifies the actor the same way and sees
one snapshot.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from sqlalchemy import Connection, select

from duban.engine import access, accounts, audit, calendar_store, fingerprint, schema, seals
from duban.engine.access import Actor, Bearer, Identity
from duban.engine.clock import SystemClock
from duban.engine.db import Database
from duban.engine.directory_cache import Directory, DirectoryCache
from duban.engine.errors import MAX_MESSAGE, DubanError, InvalidInput, NotVisible, Refused
from duban.engine.models import ITEM
from duban.engine.ports import Clock, NoticeSink
from duban.engine.registry import Registry
from duban.engine.settings import Settings
from duban.engine.signing import Signer, load_signer
from duban.engine.timeutil import zone
from duban.engine.txn import ReadTxn, Txn, WrittenNotice
from duban.engine.validation import shown
from duban.engine.workcalendar import WorkCalendar

CALENDAR_RECHECK_SECONDS = 5.0
# Who acts: a login already established (the demo, the tests), an operating-system identity
# (the CLI on the server) or a token (the API, web sessions), checked inside the transaction.
ActorRef = str | Identity | Bearer
log = logging.getLogger("duban")


class Sessions:
    """Transactions as a person, and what every transaction shares: settings, clock,
    workflows, the audit key, the calendar, the notice sink. Build one per process."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock | None = None,
        *,
        registry: Registry | Callable[[], Registry] | None = None,
        notice_sink: Callable[[], NoticeSink] | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.tz = zone(settings.timezone)
        self.db = Database(settings.db_url)
        self._registry = registry
        self._notice_sink_factory = notice_sink
        self._notice_sink: NoticeSink | None = None
        self._signer: Signer | None = None
        self._calendar: WorkCalendar | None = None
        self._calendar_stamp: tuple[int, Any] | None = None
        self._calendar_checked = 0.0
        self._schema_checked = False
        self._workflows_checked = False
        self._identified: dict[Identity | Bearer, str] = {}
        self.directory_cache = DirectoryCache()

    @property
    def registry(self) -> Registry:
        """The workflows, found on first use (the admin's folder is read then)."""
        if not isinstance(self._registry, Registry):
            factory = self._registry
            self._registry = factory() if factory else Registry.discover(
                extra_dir=self.settings.workflows_dir)
        return self._registry

    @property
    def notice_sink(self) -> NoticeSink | None:
        """Where written notices become documents; built when the first notice is written."""
        if self._notice_sink is None and self._notice_sink_factory is not None:
            self._notice_sink = self._notice_sink_factory()
        return self._notice_sink

    @property
    def signer(self) -> Signer:
        if self._signer is None:
            self._signer = load_signer(self.settings.audit_key_path)
        return self._signer

    @property
    def calendar(self) -> WorkCalendar:
        """Working days: the packaged arrangements and the years admins loaded."""
        with self.db.read() as conn:
            self._check_schema(conn)
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

    def close(self) -> None:
        self.db.dispose()

    # -- transactions ---------------------------------------------------------------------

    @contextmanager
    def transaction(self, actor: ActorRef, operation: str = "write",
                    item_id: int | None = None) -> Iterator[Txn]:
        """One write transaction acting as ``actor``. A refusal (:class:`Refused`,
        :class:`InvalidInput`) undoes everything and is recorded as ``operation``."""
        try:
            with self._writing(lambda conn: self._resolve(conn, actor)) as txn:
                yield txn
        except (Refused, InvalidInput, NotVisible) as err:
            self._record_refusal(self._label(actor), operation, err, item_id)
            raise

    def system_transaction(self) -> AbstractContextManager[Txn]:
        """A write transaction of the engine itself (timers, deliveries), as ``system``."""
        return self._writing(lambda conn: access.SYSTEM)

    @contextmanager
    def reading(self, actor: ActorRef, operation: str = "read",
                item_id: int | None = None) -> Iterator[ReadTxn]:
        """One read transaction as ``actor``: a consistent snapshot, no locks held. A refused
        reader is recorded like a refused writer."""
        try:
            with self._reading(lambda conn: self._resolve(conn, actor)) as txn:
                yield txn
        except (Refused, NotVisible) as err:
            self._record_refusal(self._label(actor), operation, err, item_id)
            raise

    def system_reading(self) -> AbstractContextManager[ReadTxn]:
        """A read transaction of the engine itself, as ``system``."""
        return self._reading(lambda conn: access.SYSTEM)

    def _reading_as(self, actor: ActorRef | None,
                    operation: str) -> AbstractContextManager[ReadTxn]:
        return self.system_reading() if actor is None else self.reading(actor, operation)

    @contextmanager
    def _writing(self, who: Callable[[Connection], Actor]) -> Iterator[Txn]:
        """The write transaction every write runs in: checks, the actor identified inside it,
        and at its end the notices' documents and the audit seal."""
        with self.db.write() as conn:
            self._check_schema(conn)
            self._check_workflows(conn)
            txn = self._txn(conn, who(conn))
            yield txn
            self._finish(txn)
        txn.committed()

    @contextmanager
    def _reading(self, who: Callable[[Connection], Actor]) -> Iterator[ReadTxn]:
        with self.db.read() as conn:
            self._check_schema(conn)
            yield self._read_txn(conn, who(conn))

    def _read_txn(self, conn: Connection, actor: Actor) -> ReadTxn:
        return ReadTxn(conn=conn, now=self.clock.now(), tz=self.tz, actor=actor,
                       registry=self.registry, calendar=self.calendar_for(conn),
                       closing=self.settings.closing_time, directory_cache=self.directory_cache,
                       signer=self.signer)

    def _txn(self, conn: Connection, actor: Actor) -> Txn:
        writer = audit.AuditWriter(conn, self.signer, serialize=self.db.is_postgres)
        return Txn(conn=conn, now=self.clock.now(), tz=self.tz, actor=actor,
                   registry=self.registry, audit=writer, calendar=self.calendar_for(conn),
                   closing=self.settings.closing_time, directory_cache=self.directory_cache,
                   signer=self.signer)

    def _finish(self, txn: Txn) -> None:
        """The end of every write: the notices written get their documents and numbers, then
        the audit events are chained and signed."""
        if txn.notices_written:
            sink = self.notice_sink
            if txn.defer_documents:
                txn.deferred = list(txn.notices_written)
            elif sink is not None:
                sink.flush(txn, list(txn.notices_written))
            txn.notices_written.clear()
        if txn.changes_directory:
            seals.seal_directory(txn.conn, self.signer)
        txn.audit.seal(txn.now)

    def make_documents(self, written: list[WrittenNotice]) -> int:
        """The documents of notices committed without them (see ``Txn.defer_documents``),
        made in a transaction of their own; returns how many."""
        sink = self.notice_sink
        if not written or sink is None:
            return 0
        with self.system_transaction() as txn:
            return sink.render_committed(txn, written)

    def refuse(self, actor: ActorRef, operation: str, reason: str) -> None:
        """Record an attempt a client turned away before it reached the engine (a form without
        its CSRF token), like any refusal."""
        label = self._label(actor)
        try:
            with self.db.read() as conn:
                label = self._resolve(conn, actor).login
        except DubanError:
            pass
        self._record_refusal(label, operation, Refused(reason), None)

    def _record_refusal(self, actor: str, operation: str, err: Exception,
                        item_id: int | None) -> None:
        try:
            with self.db.write() as conn:
                self._check_schema(conn)
                if item_id is not None and not _item_exists(conn, item_id):
                    item_id = None
                writer = audit.AuditWriter(conn, self.signer, serialize=self.db.is_postgres)
                now = self.clock.now()
                writer.append(
                    at=now, actor=shown(actor, 63), action="refused", item_id=item_id,
                    event=shown(operation, 63),
                    reason=shown(getattr(err, "reason", None) or str(err), limit=MAX_MESSAGE),
                    payload={"kind": type(err).__name__},
                )
                writer.seal(now)
        except Exception as failure:  # the refusal is what the user must see; say this too
            log.warning("拒绝记录未能写入审计: %s", failure)

    # -- identity and checks --------------------------------------------------------------

    def _resolve(self, conn: Connection, actor: ActorRef) -> Actor:
        if len(self._identified) > 10_000:  # only for naming refusals: keep it small
            self._identified.clear()
        directory = self.trusted_directory(conn)
        if isinstance(actor, Identity):
            person = access.identify(directory, actor.os_login, actor.act_as)
            self._identified[actor] = person.login
            return person
        if isinstance(actor, Bearer):
            person = accounts.authenticate_token(conn, actor.token, self.clock.now(),
                                                 directory, self.signer)
            self._identified[actor] = person.login
            return person
        person = access.get_actor(directory, actor)
        if person is None:
            raise Refused(f"没有登录名为 {shown(actor)} 的人员")
        if not person.active:
            raise Refused(f"{person.name}({actor}) 已停用")
        return person

    def trusted_directory(self, conn: Connection) -> Directory:
        """The directory as committed, its seal checked (once per generation and process).
        Called before a transaction writes anything, so what it keeps is committed."""
        generation, found = self.directory_cache.lookup(conn)
        if found is None:
            found = seals.read_checked(conn, self.signer)
            self.directory_cache.keep(generation, found)
        return found

    def _label(self, actor: ActorRef) -> str:
        """Who a refusal is recorded against: the person, or the unidentified system login."""
        if isinstance(actor, Identity):
            return self._identified.get(actor, f"os:{actor.os_login}")
        if isinstance(actor, Bearer):
            return self._identified.get(actor, actor.label)
        return actor

    def _check_schema(self, conn: Connection) -> None:
        if not self._schema_checked:
            schema.require_current(conn)
            self._schema_checked = True

    def _check_workflows(self, conn: Connection) -> None:
        """Once per process, in the first write: record new workflow versions, refuse an
        edited version that running items use."""
        if not self._workflows_checked:
            fingerprint.check(conn, self.registry, self.clock.now())
            self._workflows_checked = True


def _item_exists(conn: Connection, item_id: int) -> bool:
    return conn.execute(select(ITEM.c.id).where(ITEM.c.id == item_id)).first() is not None
