"""Timer rows: keeping an item's pending steps in line with its plan.

Called in the same transaction as every change of an item. Steps that no longer belong (the
item left their states, or the deadline moved) are cancelled; steps the plan wants are added,
or re-armed if they were cancelled earlier for the same deadline version (an item back from a
pending extension gets its warnings back). A step that fired or was skipped for a deadline
version stays as it is: it never fires twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, insert, select, update

from duban.engine.models import TIMER
from duban.engine.timers import Anchor, plan
from duban.engine.workflow import Workflow

if TYPE_CHECKING:
    from duban.engine.service import Txn

PENDING, FIRED, SKIPPED, CANCELLED, FAILED = "pending", "fired", "skipped", "cancelled", "failed"
TIMERS_OF_ITEM = select(TIMER.c.id, TIMER.c.step, TIMER.c.deadline_version, TIMER.c.status,
                        TIMER.c.due_at).where(TIMER.c.item_id == bindparam("item_id"))
SET_STATUS = (update(TIMER).where(TIMER.c.id == bindparam("_id"))
              .values(status=bindparam("status"), due_at=bindparam("due_at")))
INSERT_TIMER = insert(TIMER)


def reconcile(txn: Txn, item: Mapping[str, Any], workflow: Workflow, *,
              new: bool = False) -> None:
    """Bring the item's timer rows in line with its plan; ``new``: it has none yet."""
    if not workflow.timers:
        return
    wanted = {
        (step.step, step.deadline_version): step
        for step in plan(item, workflow.timers, txn.calendar, txn.tz, txn.now)
    }
    existing = {} if new else {
        (row.step, row.deadline_version): row
        for row in txn.conn.execute(TIMERS_OF_ITEM, {"item_id": item["id"]})
    }
    monthly_due = {
        spec.step for spec in workflow.timers
        if spec.anchor is Anchor.monthly and item["state"] in spec.states
    }
    changes = []
    for key, row in existing.items():
        step = wanted.get(key)
        # A recurring step already due still fires, though the plan has moved to next month.
        keep_due = row.step.split(":", 1)[0] in monthly_due and row.due_at <= txn.now
        if row.status == PENDING and step is None and not keep_due:
            changes.append({"_id": row.id, "status": CANCELLED, "due_at": row.due_at})
        elif row.status in (PENDING, CANCELLED) and step is not None:
            if row.status == CANCELLED or row.due_at != step.due_at:
                changes.append({"_id": row.id, "status": PENDING, "due_at": step.due_at})
    if changes:
        txn.conn.execute(SET_STATUS, changes)
    new_rows = [
        {"item_id": item["id"], "step": step.step, "deadline_version": step.deadline_version,
         "due_at": step.due_at, "status": PENDING, "created_at": txn.now}
        for key, step in wanted.items()
        if key not in existing
    ]
    if new_rows:
        txn.conn.execute(INSERT_TIMER, new_rows)


def new_rows(txn: Txn, item: Mapping[str, Any], workflow: Workflow) -> list[dict[str, Any]]:
    """The timer rows of a new item's plan, for the caller to insert with others."""
    return [
        {"item_id": item["id"], "step": step.step, "deadline_version": step.deadline_version,
         "due_at": step.due_at, "status": PENDING, "created_at": txn.now}
        for step in plan(item, workflow.timers, txn.calendar, txn.tz, txn.now)
    ]


def item_timers(conn, item_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(select(TIMER).where(TIMER.c.item_id == item_id)
                        .order_by(TIMER.c.due_at, TIMER.c.id))
    return [dict(row) for row in rows.mappings()]
