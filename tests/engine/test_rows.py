"""The typed rows (engine/rows.py) and the engine's plain tables (engine/models.py) declare the
same schema, and the migrations build exactly that schema."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateTable

from duban.engine import models, rows
from duban.engine.db import Database

DIALECTS = (sqlite.dialect(), postgresql.dialect())


def default_of(column: Column) -> Any:
    default = column.default
    if default is None:
        return None
    return ("scalar", default.arg) if default.is_scalar else ("other", type(default).__name__)


def shape(table: Table) -> dict[str, Any]:
    """What makes a table what it is, in the database and on insert."""
    return {
        "columns": [
            (c.name, tuple(c.type.compile(dialect) for dialect in DIALECTS), type(c.type),
             c.nullable, c.primary_key, c.autoincrement, default_of(c),
             None if c.server_default is None else str(c.server_default.arg))
            for c in table.columns
        ],
        "indexes": sorted((index.name, tuple(c.name for c in index.columns), index.unique)
                          for index in table.indexes),
        "foreign_keys": sorted((fk.parent.name, fk.target_fullname, fk.ondelete, fk.onupdate)
                               for fk in table.foreign_keys),
        "unique": sorted(tuple(c.name for c in constraint.columns)
                         for constraint in table.constraints
                         if isinstance(constraint, UniqueConstraint)),
        # line by line: the order of the constraints is not part of the table
        "ddl": [sorted(line.strip().rstrip(",") for line in
                       str(CreateTable(table).compile(dialect=dialect)).splitlines())
                for dialect in DIALECTS],
    }


def plain_type(column_type: Any) -> Any:
    """SQLModel's ``AutoString`` is a ``String`` that picks a length on MySQL alone."""
    from sqlmodel.sql.sqltypes import AutoString

    return String if column_type is AutoString else column_type


@pytest.mark.parametrize("name", rows.ROW_TABLES)
def test_each_sqlmodel_class_declares_the_table_the_engine_uses(name):
    plain, declared = shape(models.METADATA.tables[name]), shape(rows.METADATA.tables[name])
    for columns in (plain["columns"], declared["columns"]):
        columns[:] = [(*c[:2], plain_type(c[2]), *c[3:]) for c in columns]
    assert declared == plain


def test_the_schema_alembic_targets_is_every_table_the_engine_uses():
    assert list(rows.METADATA.tables) != []
    assert set(rows.METADATA.tables) == set(models.METADATA.tables)
    for name, table in models.METADATA.tables.items():
        if name not in rows.ROW_TABLES:
            assert shape(rows.METADATA.tables[name]) == shape(table), name


def test_the_migrations_build_the_declared_schema(settings):
    database = Database(settings.db_url)
    try:
        with database.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, rows.METADATA) == []
            assert compare_metadata(context, models.METADATA) == []
    finally:
        database.dispose()


def _table(*extra: Any, nullable: bool = False, default: Any = None,
           length: int = 32) -> dict[str, Any]:
    table = Table("t", MetaData(),
                  Column("id", String(32), primary_key=True),
                  Column("code", String(length), nullable=nullable, default=default),
                  Column("flag", Boolean, nullable=False),
                  *extra)
    return shape(table)


@pytest.mark.parametrize("changed", [
    {"nullable": True},
    {"default": "x"},
    {"length": 64},
])
def test_the_comparison_sees_a_changed_column(changed):
    assert _table(**changed) != _table()


def test_the_comparison_sees_an_index_and_a_foreign_key():
    assert _table(Index("ix_t_code", "code")) != _table()
    assert (_table(Column("parent", String(32), ForeignKey("t.id")))
            != _table(Column("parent", String(32))))
