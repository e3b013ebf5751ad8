"""Timer rows: an item's pending steps kept in line with its plan, and the claims of due ones.

:func:`reconcile` runs in the same transaction as every change of an item. Steps that no longer
belong (the item left their states, or the deadline moved) are cancelled; steps the plan wants
are added, or re-armed if they were cancelled earlier for the same deadline version (an item
back from a pending extension gets its warnings back). A step that fired or was skipped for a
deadline version stays as it is: it never fires twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, tuple_

from duban.engine.batch import CHANGE_STATUS, FINISH_STEP
from duban.engine.models import ITEM, TIMER, TimerStatus
from duban.engine.prepared import Prepared
from duban.engine.timers import Anchor, plan
from duban.engine.txn import ReadTxn, Txn
from duban.engine.workflow import Workflow

PENDING, CANCELLED = TimerStatus.pending.value, TimerStatus.cancelled.value
TIMERS_OF_ITEM = Prepared(select(TIMER.c.id, TIMER.c.step, TIMER.c.deadline_version,
                                 TIMER.c.status, TIMER.c.due_at)
                          .where(TIMER.c.item_id == bindparam("item_id")))
NEW_TIMER_COLUMNS = ("item_id", "step", "deadline_version", "due_at", "status", "created_at")
ADD_TIMER = Prepared(insert(TIMER).values({name: bindparam(name) for name in NEW_TIMER_COLUMNS}))
INSERT_TIMER = insert(TIMER)
STATUS_OF = Prepared(select(TIMER.c.status).where(TIMER.c.id == bindparam("_id")))


def reconcile(txn: Txn, item: Mapping[str, Any], workflow: Workflow, *,
              new: bool = False) -> None:
    """Bring the item's timer rows in line with its plan; ``new``: it has none yet."""
    if not workflow.timers:
        return
    wanted = {
        (step.step, step.deadline_version): step
        for step in plan(item, workflow.timers, txn.calendar, txn.tz, txn.now)
    }
    batch = txn.batch_holding(item["id"])
    existing = {} if new else {
        (row["step"], row["deadline_version"]): row
        for row in (batch.timer_rows(item["id"]) if batch else
                    TIMERS_OF_ITEM.all(txn.conn, {"item_id": item["id"]}))
    }
    monthly_due = {
        spec.step for spec in workflow.timers
        if spec.anchor is Anchor.monthly and item["state"] in spec.states
    }
    changes = []
    for key, row in existing.items():
        step = wanted.get(key)
        # A recurring step already due still fires, though the plan has moved to next month.
        keep_due = row["step"].split(":", 1)[0] in monthly_due and row["due_at"] <= txn.now
        if row["status"] == PENDING and step is None and not keep_due:
            changes.append((row, CANCELLED, row["due_at"]))
        elif row["status"] in (PENDING, CANCELLED) and step is not None:
            if row["status"] == CANCELLED or row["due_at"] != step.due_at:
                changes.append((row, PENDING, step.due_at))
    if batch is not None:
        for row, status, due_at in changes:
            batch.set_timer(row, status, due_at)
    elif changes:
        CHANGE_STATUS.execute_many(txn.conn, [{"_id": row["id"], "status": status,
                                                "due_at": due_at}
                                               for row, status, due_at in changes])
    new_rows = [
        {"item_id": item["id"], "step": step.step, "deadline_version": step.deadline_version,
         "due_at": step.due_at, "status": PENDING, "created_at": txn.now}
        for key, step in wanted.items()
        if key not in existing
    ]
    if batch is not None:
        batch.add_timers(new_rows)
    elif new_rows:
        ADD_TIMER.execute_many(txn.conn, new_rows)


def new_rows(txn: Txn, item: Mapping[str, Any], workflow: Workflow) -> list[dict[str, Any]]:
    """The timer rows of a new item's plan, for the caller to insert with others."""
    return [
        {"item_id": item["id"], "step": step.step, "deadline_version": step.deadline_version,
         "due_at": step.due_at, "status": PENDING, "created_at": txn.now}
        for step in plan(item, workflow.timers, txn.calendar, txn.tz, txn.now)
    ]


def claim_due_timers(txn: Txn, limit: int) -> list[dict[str, Any]]:
    """The steps due at the transaction's now, oldest first, claimed for this transaction.

    On SQLite the write transaction's ``BEGIN IMMEDIATE`` already makes the claim exclusive.
    The steps of items whose workflow is in an admin's file that cannot be loaded stay due
    (the daemon's log names the file when the workflows are read) rather than stopping
    everyone's batch.

    On PostgreSQL the rows are taken ``FOR UPDATE SKIP LOCKED`` so that several daemons share
    the due steps without waiting on each other (a dead daemon's locks go with its connection),
    and then their items are locked in id order, skipping the items a user's command holds
    right now: those steps are left for the next batch, so a daemon never waits on a user and
    the two can never deadlock.
    """
    claim = (
        select(TIMER)
        .where(TIMER.c.status == PENDING, TIMER.c.due_at <= txn.now)
        .order_by(TIMER.c.due_at, TIMER.c.id)
        .limit(limit)
    )
    if txn.registry.broken:  # an admin's file that cannot be loaded: its items' steps wait
        loaded = [(wf.name, wf.version) for wf in txn.registry.all_versions()]
        claim = claim.where(TIMER.c.item_id.in_(select(ITEM.c.id).where(
            tuple_(ITEM.c.workflow, ITEM.c.workflow_version).in_(loaded))))
    postgres = txn.conn.dialect.name == "postgresql"
    if postgres:
        claim = claim.with_for_update(skip_locked=True)
    due = [dict(row) for row in txn.conn.execute(claim).mappings()]
    if not due or not postgres:
        return due
    ids = sorted({row["item_id"] for row in due})
    locked = set(txn.conn.execute(
        select(ITEM.c.id).where(ITEM.c.id.in_(ids)).order_by(ITEM.c.id)
        .with_for_update(skip_locked=True)
    ).scalars())
    return [row for row in due if row["item_id"] in locked]


def status_of(txn: Txn, timer: Mapping[str, Any]) -> TimerStatus | None:
    """The status of a claimed step now: an earlier firing may have cancelled it."""
    batch = txn.batch_holding(timer["item_id"])
    if batch is not None:
        found = batch.timer_status(timer["item_id"], timer["id"])
    else:
        row = STATUS_OF.first(txn.conn, {"_id": timer["id"]})
        found = row and row["status"]
    return None if found is None else TimerStatus(found)


def finish(txn: Txn, timer: Mapping[str, Any], status: TimerStatus, outcome: str | None,
           late: int | None = None, at: datetime | None = None) -> None:
    """Record how a step ended: fired, skipped, cancelled or failed, and when."""
    params = {"_id": timer["id"], "status": status.value, "fired_at": at or txn.now,
              "late_seconds": late, "outcome": outcome}
    batch = txn.batch_holding(timer["item_id"])
    if batch is not None:
        batch.finish(timer["item_id"], params)
    else:
        FINISH_STEP.execute(txn.conn, params)


def item_timers(txn: ReadTxn, item_id: int) -> list[dict[str, Any]]:
    rows = txn.conn.execute(select(TIMER).where(TIMER.c.item_id == item_id)
                            .order_by(TIMER.c.due_at, TIMER.c.id))
    return [dict(row) for row in rows.mappings()]
