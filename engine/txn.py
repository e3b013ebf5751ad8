"""The context every engine function works in: one transaction, as one person, at one instant.

A :class:`ReadTxn` is a consistent snapshot read as a person; a :class:`Txn` is a write
transaction, which also collects its audit events and the notices it wrote, both finished by
the service just before commit. Each holds the caches that live exactly as long as its
transaction, so that a batch of timer firings or an import reads the directory once; the
directory itself is also kept between transactions (:class:`DirectoryCache`) for as long as
the database says it has not changed.

Everything that acts imports this module; it imports only what it holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from duban.engine.access import Actor
from duban.engine.audit import AuditWriter
from duban.engine.batch import Batch
from duban.engine.directory_cache import Directory, DirectoryCache, read_directory
from duban.engine.registry import Registry
from duban.engine.seals import read_checked
from duban.engine.signing import Signer
from duban.engine.workcalendar import WorkCalendar


@dataclass(frozen=True)
class WrittenNotice:
    """A notice row written in this transaction, with the item as the event left it: what
    the notice sink renders at the end of the transaction."""

    row: dict[str, Any]
    item: dict[str, Any] | None


@dataclass(frozen=True)
class Scope:
    """What one person may see, computed once per transaction (``txn.scope``) by
    :mod:`duban.engine.visibility`."""

    login: str
    everything: bool
    units: frozenset[str]  # their unit's items, co-units' items, and the sub-items of those
    leader_units: frozenset[str]  # a leader's units and every unit below them
    inspector: bool
    evaluator: bool
    leader: bool
    internal: frozenset[str]  # the internal notice kinds
    unit_people: frozenset[str]  # the people of ``units``: notices to them are the unit's

    @property
    def sees_figures(self) -> bool:
        """The whole office's figures and scores: leaders and the office."""
        return self.everything or self.leader


class UndoMark(NamedTuple):
    """How far a transaction had got: a failed step inside a savepoint goes back to it."""

    events: int
    notices: int


@dataclass(kw_only=True, eq=False)
class ReadTxn:
    """A read transaction as ``actor``: what read functions and guards look at."""

    conn: Connection
    now: datetime
    tz: ZoneInfo
    actor: Actor
    registry: Registry
    calendar: WorkCalendar
    closing: time | None = None  # the office's closing time ends "N 个工作日", if set
    scope: Scope | None = field(default=None, repr=False)  # see duban.engine.visibility
    directory_cache: DirectoryCache | None = field(default=None, repr=False)
    signer: Signer | None = field(default=None, repr=False)  # checks the directory's seal
    _directory: Directory | None = field(default=None, repr=False)
    _directory_changed: bool = field(default=False, repr=False)

    @property
    def directory(self) -> Directory:
        """The directory, read once per transaction (or taken from the process's cache).

        The generation is read before the tables: what is kept under a generation is never
        older than it."""
        if self._directory is None:
            if self._directory_changed:  # its own changes, sealed when it ends
                self._directory = read_directory(self.conn)
            elif self.directory_cache is None:
                self._directory = self._checked()
            else:
                generation, found = self.directory_cache.lookup(self.conn)
                if found is None:
                    found = self._checked()
                    self._read_at(generation, found)
                self._directory = found
        return self._directory

    @property
    def changes_directory(self) -> bool:
        """Whether this transaction changed a unit or a person (its end re-seals them)."""
        return self._directory_changed

    def _checked(self) -> Directory:
        if self.signer is None:
            return read_directory(self.conn)
        return read_checked(self.conn, self.signer)

    def _read_at(self, generation: int, directory: Directory) -> None:
        assert self.directory_cache is not None
        self.directory_cache.keep(generation, directory)

    def directory_changed(self) -> None:
        """Called by whatever changes a unit or a person in this transaction."""
        self._directory = None
        self._directory_changed = True

    def batch_holding(self, item_id: int) -> Batch | None:
        """The batch of timer firings that holds this item's rows, if any (only a write
        transaction has one)."""
        return None


@dataclass(kw_only=True, eq=False)
class Txn(ReadTxn):
    """A write transaction: its changes, audit events and notices commit together."""

    audit: AuditWriter
    notices_written: list[WrittenNotice] = field(default_factory=list)
    # A batch of timer firings being decided: its rows are read from and written to it.
    batch: Batch | None = field(default=None, repr=False)
    # The notices' documents made after the commit, not in it (the ticker's batches): the
    # rows, with the item as each step left it, commit here; ``deferred`` hands them on.
    defer_documents: bool = False
    deferred: list[WrittenNotice] = field(default_factory=list)

    _unkept: tuple[int, Directory] | None = field(default=None, repr=False)
    _directory_checked: bool = field(default=False, repr=False)

    def _read_at(self, generation: int, directory: Directory) -> None:
        self._unkept = (generation, directory)  # this transaction may still roll back

    def batch_holding(self, item_id: int) -> Batch | None:
        return self.batch if self.batch is not None and self.batch.holds(item_id) else None

    def directory_changed(self) -> None:
        super().directory_changed()
        self._unkept = None

    def begin_directory_change(self) -> None:
        """Before this transaction's first change to a unit or a person: the directory's
        tables locked against every other writer (PostgreSQL; SQLite's writer holds the whole
        database already) and the directory as committed, read afresh, checked against its
        seal. The seal written at the end then covers only what was checked and what this
        transaction changed: a change made around the engine is never signed by it."""
        if self._directory_checked:
            return
        if self.conn.dialect.name == "postgresql":
            self.conn.exec_driver_sql("LOCK TABLE unit, person, meta IN EXCLUSIVE MODE")
        if self.signer is not None:
            read_checked(self.conn, self.signer)
        self._directory_checked = True

    def committed(self) -> None:
        """Called once the transaction has committed: its directory may now serve others."""
        if self._unkept is not None and self.directory_cache is not None:
            self.directory_cache.keep(*self._unkept)
        self._unkept = None

    def mark(self) -> UndoMark:
        return UndoMark(self.audit.mark(), len(self.notices_written))


    def undo(self, mark: UndoMark) -> None:
        """Forget what was collected after ``mark`` (its rows went with a savepoint)."""
        self.audit.rollback_to(mark.events)
        del self.notices_written[mark.notices:]
