"""Database engines and transactions.

SQLite runs in WAL mode with a busy timeout, and every write transaction starts with
``BEGIN IMMEDIATE`` so that two writers queue instead of failing halfway with "database is
locked"; before that, writers queue in :class:`SqliteWriters`, which hands the database to
the next writer as soon as the last one commits. PostgreSQL needs nothing special here; the
audit chain serialises its own appends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

from duban.engine.errors import SetupError
from duban.engine.permissions import create_private_file, make_private_dir
from duban.engine.sqlite_writers import SqliteWriters

SQLITE_BUSY_TIMEOUT_MS = 15_000


class Database:
    """An engine plus the two kinds of transaction the engine uses: read and write."""

    def __init__(self, url: str, *, echo: bool = False, create: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.is_postgres = url.startswith("postgresql")
        self.engine: Engine = _make_engine(url, echo=echo)
        database = make_url(url).database if self.is_sqlite else None
        self._file = Path(database) if database and database != ":memory:" else None
        if create:
            self.create_file()
        self._writers: AbstractContextManager[Any] = (
            SqliteWriters(make_url(url).database, SQLITE_BUSY_TIMEOUT_MS / 1000)
            if self.is_sqlite else nullcontext())
        self._read_options: dict[str, Any] = (
            {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
            if self.is_postgres else {})

    def create_file(self) -> None:
        """Make the SQLite file (private) if it is missing: only ``init`` and the demo do."""
        if self._file is not None and not self._file.exists():
            try:
                make_private_dir(self._file.parent)
                create_private_file(self._file)  # its -wal and -shm files take its mode
            except OSError as err:
                raise SetupError(f"无法创建数据库 {self._file}: {err.strerror}") from None

    def _require_file(self) -> None:
        """A command never creates a database by opening one: a mistyped ``--db`` would leave
        an empty file behind."""
        if self._file is not None and not self._file.exists():
            raise SetupError(f"数据库 {self._file} 不存在: 请先运行 duban init, "
                             "或用 --db 指向已有的数据库")

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction: everything inside commits together or not at all."""
        self._require_file()
        with self._writers, self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction: one consistent snapshot, no locks held against writers.

        SQLite's WAL gives a read transaction its snapshot; PostgreSQL's default (READ
        COMMITTED) would give each statement its own, so a page's count and rows, or the
        directory's units and people, could come from different commits."""
        self._require_file()
        with self.engine.connect() as conn:
            # psycopg sends these with its BEGIN: no extra round trip
            conn.execution_options(duban_read=True, **self._read_options)
            with conn.begin() as txn:
                yield conn
                txn.rollback()

    def dispose(self) -> None:
        self.engine.dispose()


def _make_engine(url: str, *, echo: bool) -> Engine:
    if url.startswith("sqlite"):
        return _sqlite_engine(url, echo=echo)
    if url.startswith("postgresql"):
        return create_engine(url, echo=echo, pool_pre_ping=True)
    shown = make_url(url).render_as_string(hide_password=True)
    raise SetupError(f"不支持的数据库地址 {shown}: 只支持 SQLite 与 PostgreSQL")


def _sqlite_engine(url: str, *, echo: bool) -> Engine:
    database = make_url(url).database
    # isolation_level=None hands transaction control to us: the driver's own implicit BEGIN
    # is deferred, which is exactly what loses writes under contention.
    engine = create_engine(
        url,
        echo=echo,
        connect_args={"isolation_level": None, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
    )

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        read_only = conn.get_execution_options().get("duban_read", False)
        # on the driver's cursor: nothing of SQLAlchemy's statement path for every transaction
        conn.connection.dbapi_connection.execute("BEGIN" if read_only else "BEGIN IMMEDIATE")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
        except Exception as err:  # a read-only or foreign file
            raise SetupError(f"无法打开数据库 {database}: {err}") from None
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine




_DIALECT_STATEMENTS: dict[tuple[str, str], Any] = {}


def dialect_statement(conn: Connection, name: str, build: Callable[[Any], Any]) -> Any:
    """A statement built with the dialect's own INSERT (for ON CONFLICT), once per dialect.

    ``build`` receives that ``insert`` function. The dialect module is imported on first use:
    the PostgreSQL one alone costs a command about 40 ms at start-up.
    """
    key = (conn.dialect.name, name)
    statement = _DIALECT_STATEMENTS.get(key)
    if statement is None:
        if conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        statement = _DIALECT_STATEMENTS[key] = build(insert)
    return statement
