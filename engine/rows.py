"""The rows of unit, person and item as SQLModel classes, and the schema Alembic compares.

The engine reads and writes the plain tables of :mod:`duban.engine.models`; importing SQLModel
(and pydantic with it) would cost every command about 0.15 s. These classes declare the same
three tables as typed rows for whoever wants objects of them, and :data:`METADATA` holds them
beside copies of every other table: the schema the migrations' environment targets
(engine/migrations/env.py). tests/engine/test_rows.py checks that both declarations make the
same tables (columns, types, nullability, defaults, indexes, foreign keys).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Integer, Text
from sqlmodel import Field, SQLModel

from duban.engine.models import METADATA as PLAIN
from duban.engine.models import SourceKind
from duban.engine.timeutil import UTCDateTime

ROW_TABLES = ("unit", "person", "item")  # declared here as classes; the rest are copied


def _instant(nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


class Unit(SQLModel, table=True):
    """A unit: a section of the bureau, a school, the supervision office (承办单位)."""

    __tablename__ = "unit"
    code: str = Field(primary_key=True, max_length=32)
    name: str = Field(max_length=100)
    parent_code: str | None = Field(default=None, foreign_key="unit.code", max_length=32)
    head_login: str | None = Field(default=None, max_length=64)
    liaison_login: str | None = Field(default=None, max_length=64)  # 督查联络员, one per unit
    webhook: str | None = Field(default=None, max_length=500)  # the unit's group robot
    webhook_style: str | None = Field(default=None, max_length=16)  # json / wecom / dingtalk
    created_at: datetime = _instant()


class Person(SQLModel, table=True):
    """A person who acts: logins map operating-system users to people."""

    __tablename__ = "person"
    login: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=50)
    unit_code: str | None = Field(default=None, foreign_key="unit.code", max_length=32, index=True)
    roles: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    deputy_login: str | None = Field(default=None, max_length=64)  # AB岗: B acts when A is away
    away_until: datetime | None = _instant(nullable=True)
    email: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=40)
    active: bool = Field(default=True)
    created_at: datetime = _instant()


class Item(SQLModel, table=True):
    """A supervision item (督办事项) and where it stands in its workflow."""

    __tablename__ = "item"
    __table_args__ = (
        Index("ix_item_unit_state", "lead_unit", "state"),
        Index("ix_item_current_deadline", "current_deadline"),
        Index("ix_item_created_at", "created_at"),
        # the ledger: open items by state, per unit in deadline order
        Index("ix_item_state_unit_deadline", "state", "lead_unit", "current_deadline"),
        Index("ix_item_unit_deadline", "lead_unit", "current_deadline"),
        # a leader's own items, in deadline order (what each may see, engine/visibility.py)
        Index("ix_item_leader_deadline", "lead_leader", "current_deadline"),
    )
    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    workflow: str = Field(max_length=64)
    workflow_version: int
    state: str = Field(max_length=64, index=True)
    title: str = Field(max_length=200)
    goal: str = Field(default="", sa_column=Column(Text, nullable=False))
    measures: str = Field(default="", sa_column=Column(Text, nullable=False))
    source: str = Field(default=SourceKind.other.value, max_length=32)
    lead_leader: str | None = Field(default=None, max_length=64)
    lead_unit: str = Field(foreign_key="unit.code", max_length=32)
    co_units: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    original_deadline: datetime = _instant()
    current_deadline: datetime = _instant()
    deadline_reason: str | None = Field(default=None, max_length=200)
    deadline_provisional: bool = Field(default=False)  # rests on a year not yet published
    deadline_basis: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    deadline_version: int = Field(default=1)  # moves with the deadline; keys the timer steps
    state_since: datetime = _instant()
    clock_start: datetime = _instant()  # when the unit's clock started (assignment, redo)
    public: bool = Field(default=False)
    parent_id: int | None = Field(default=None, foreign_key="item.id", index=True)
    attrs: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_by: str = Field(max_length=64)
    created_at: datetime = _instant()
    updated_at: datetime = _instant()
    version: int = Field(default=1)


# every table of the schema: these three as declared above, the others as the engine has them
METADATA = SQLModel.metadata
for _table in PLAIN.sorted_tables:
    if _table.name not in ROW_TABLES:
        _table.to_metadata(METADATA)
