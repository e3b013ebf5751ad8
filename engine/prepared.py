"""Statements compiled once and run on the driver's cursor, inside the SQLAlchemy transaction.

SQLAlchemy stays the schema and the way statements are written: each one here is a Core
statement, compiled once per dialect, its values converted by its column types' own bind and
result processors. Running it on the connection's driver cursor skips what SQLAlchemy does
again for every execution (cache lookup, parameter construction, events, result objects),
which costs several times the driver's own work on the few statements every event sends.
The cursor belongs to the same connection, so the statement is part of the transaction.

Only plain statements are prepared (no expanding ``IN`` lists): those are left to SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Form:
    """A statement as one dialect's driver takes it."""

    sql: str
    positional: bool  # the driver takes a tuple in ``binds``' order (qmark), else a dict
    # per bind: its name, its name in the SQL, its processor, the value written into the
    # statement itself (or _GIVEN: the caller's)
    binds: tuple[tuple[str, str, Processor, Any], ...]
    columns: tuple[tuple[str, Processor], ...]


class Prepared:
    """A Core statement run on the driver's cursor of whatever connection it is given."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._forms: dict[str, _Form] = {}

    def _form(self, dialect: Dialect) -> _Form:
        form = self._forms.get(dialect.name)
        if form is None:
            form = self._forms[dialect.name] = _compile(self.statement, dialect)
        return form

    @staticmethod
    def _args(form: _Form, params: Mapping[str, Any]) -> Any:
        values = [params[name] if fixed is _GIVEN else params.get(name, fixed)
                  for name, _, _, fixed in form.binds]
        values = [value if processor is None else processor(value)
                  for value, (_, _, processor, _) in zip(values, form.binds, strict=True)]
        if form.positional:
            return values
        return {in_sql: value for value, (_, in_sql, _, _) in zip(values, form.binds,
                                                                 strict=True)}

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        """Run it once; returns the driver's cursor."""
        form = self._form(conn.dialect)
        cursor = conn.connection.dbapi_connection.cursor()
        with _as_sqlalchemy_errors(conn, form):
            cursor.execute(form.sql, self._args(form, params))
        return cursor

    def execute_many(self, conn: Connection, params: Sequence[Mapping[str, Any]]) -> int:
        """Run it for each of ``params``; returns the rows changed in all."""
        form = self._form(conn.dialect)
        cursor = conn.connection.dbapi_connection.cursor()
        with _as_sqlalchemy_errors(conn, form):
            cursor.executemany(form.sql, [self._args(form, one) for one in params])
        return cursor.rowcount

    def rowcount(self, conn: Connection, params: Mapping[str, Any]) -> int:
        return self.execute(conn, params).rowcount

    def all(self, conn: Connection, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        form = self._form(conn.dialect)
        return [_row(form, raw) for raw in self.execute(conn, params).fetchall()]

    def first(self, conn: Connection, params: Mapping[str, Any]) -> dict[str, Any] | None:
        form = self._form(conn.dialect)
        raw = self.execute(conn, params).fetchone()
        return None if raw is None else _row(form, raw)


@contextmanager
def _as_sqlalchemy_errors(conn: Connection, form: _Form) -> Iterator[None]:
    """The driver's errors as SQLAlchemy raises them (``OperationalError``, ``IntegrityError``
    and the rest): what every caller already knows how to tell the user."""
    driver_error = conn.dialect.loaded_dbapi.Error
    try:
        yield
    except driver_error as err:
        raise DBAPIError.instance(form.sql, None, err, driver_error,
                                  dialect=conn.dialect) from err


_GIVEN = object()


def _compile(statement: ClauseElement, dialect: Dialect) -> _Form:
    compiled = statement.compile(dialect=dialect)
    escaped = getattr(compiled, "escaped_bind_names", None) or {}
    order = list(compiled.positiontup) if compiled.positional else list(compiled.binds)
    binds = tuple(
        (name, escaped.get(name, name),
         compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect),
         _GIVEN if compiled.binds[name].required else compiled.binds[name].value)
        for name in order)
    selected = getattr(statement, "selected_columns", None)
    columns = tuple(
        (column.key, column.type.dialect_impl(dialect).result_processor(dialect, None))
        for column in (selected if selected is not None else ()))
    return _Form(compiled.string, compiled.positional, binds, columns)


def _row(form: _Form, raw: Sequence[Any]) -> dict[str, Any]:
    return {name: value if processor is None else processor(value)
            for (name, processor), value in zip(form.columns, raw, strict=True)}
