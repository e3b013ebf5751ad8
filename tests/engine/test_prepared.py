"""Prepared statements give what SQLAlchemy gives: the same rows, typed the same, inside the
same transaction, and the driver's errors as SQLAlchemy's."""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError

from duban.engine.models import ITEM, TIMER
from duban.engine.prepared import Prepared
from tests.conftest import local

READ = Prepared(select(ITEM).where(ITEM.c.id == bindparam("item_id")))
PENDING = Prepared(select(TIMER.c.id, TIMER.c.due_at).where(
    TIMER.c.item_id == bindparam("item_id"), TIMER.c.status == "pending"))


def test_rows_and_types_are_sqlalchemys(office):
    item_id = office.item(co_units=("AQK",), deadline="2026-11-30 18:00")
    office.fire("wang", item_id, "sign")
    with office.service.db.read() as conn:
        ours = READ.first(conn, {"item_id": item_id})
        theirs = dict(conn.execute(select(ITEM).where(ITEM.c.id == item_id)).mappings().one())
        pending = PENDING.all(conn, {"item_id": item_id})
        expected = [dict(row) for row in conn.execute(
            select(TIMER.c.id, TIMER.c.due_at)
            .where(TIMER.c.item_id == item_id, TIMER.c.status == "pending")).mappings()]
        missing = READ.first(conn, {"item_id": item_id + 1000})
    assert ours == theirs and ours["current_deadline"] == local("2026-11-30 18:00")
    assert ours["co_units"] == ["AQK"] and ours["attrs"]["owner"] == "wang"
    assert pending == expected and pending and missing is None


def test_a_write_is_part_of_the_transaction_and_its_errors_are_sqlalchemys(office):
    item_id = office.item()
    add = Prepared(insert(TIMER).values(
        item_id=bindparam("item_id"), step=bindparam("step"), deadline_version=1,
        due_at=bindparam("due_at"), status="pending", created_at=bindparam("due_at")))
    row = {"item_id": item_id, "step": "probe", "due_at": local("2026-12-01 09:00")}
    with pytest.raises(IntegrityError), office.service.db.write() as conn:
        add.execute(conn, row)
        add.execute(conn, row)  # the same step and deadline version twice
    with office.service.db.read() as conn:  # the first insert went with the transaction
        steps = conn.execute(select(TIMER.c.step).where(TIMER.c.item_id == item_id)).scalars()
        assert "probe" not in set(steps)
