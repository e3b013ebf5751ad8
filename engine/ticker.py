"""One tick: claim the timer steps that are due and fire each exactly once.

A batch of steps is claimed and fired in one write transaction: each firing's state change,
audit events, notice requests and the step's own row commit together, so a crash loses the
whole batch or nothing, and the next tick fires what was lost. On PostgreSQL the claim uses
``FOR UPDATE SKIP LOCKED``: several daemons share the due steps without waiting on each
other, and a dead daemon's row locks go with its connection. Items are locked in id order
before the first audit append, so firings never deadlock with users' commands.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select, update

from duban.engine import items, notices
from duban.engine.errors import DubanError
from duban.engine.models import ITEM, TIMER
from duban.engine.timer_store import CANCELLED, FAILED, FIRED, PENDING, SKIPPED, reconcile
from duban.engine.timers import Anchor, TimerSpec

if TYPE_CHECKING:
    from duban.engine.service import Service, Txn

log = logging.getLogger("duban.ticker")
DEFAULT_BATCH = 200


@dataclass
class TickReport:
    fired: int = 0
    skipped: int = 0
    cancelled: int = 0
    failed: int = 0
    batches: int = 0
    steps: list[dict[str, Any]] = field(default_factory=list)

    @property
    def handled(self) -> int:
        return self.fired + self.skipped + self.cancelled + self.failed


def tick(
    service: Service,
    *,
    batch_size: int = DEFAULT_BATCH,
    should_stop: Callable[[], bool] = lambda: False,
    keep_steps: bool = True,
) -> TickReport:
    """Fire everything due at the service clock's now, batch after batch."""
    report = TickReport()
    while not should_stop():
        handled = run_batch(service, batch_size, report, keep_steps)
        if handled < batch_size:
            break
    return report


def run_batch(service: Service, batch_size: int, report: TickReport, keep_steps: bool) -> int:
    with service.system_transaction() as txn:
        claim = (
            select(TIMER)
            .where(TIMER.c.status == PENDING, TIMER.c.due_at <= txn.now)
            .order_by(TIMER.c.due_at, TIMER.c.id)
            .limit(batch_size)
        )
        postgres = txn.conn.dialect.name == "postgresql"
        if postgres:
            claim = claim.with_for_update(skip_locked=True)
        due = [dict(row) for row in txn.conn.execute(claim).mappings()]
        if not due:
            return 0
        if postgres:
            # Items a user's command holds right now are left for the next batch: a daemon
            # never waits on a user, so the two can never deadlock.
            ids = sorted({row["item_id"] for row in due})
            locked = set(txn.conn.execute(
                select(ITEM.c.id).where(ITEM.c.id.in_(ids)).order_by(ITEM.c.id)
                .with_for_update(skip_locked=True)
            ).scalars())
            due = [row for row in due if row["item_id"] in locked]
        first = len(report.steps)
        for timer in due:
            outcome = _fire_isolated(txn, timer)
            setattr(report, outcome["status"], getattr(report, outcome["status"]) + 1)
            if keep_steps:
                report.steps.append(outcome)
        report.batches += 1
    for outcome in report.steps[first:]:
        log.info("事项 %s 步骤 %s: %s", outcome["item_id"], outcome["step"], outcome["status"])
    return len(due)


def _fire_isolated(txn: Txn, timer: dict[str, Any]) -> dict[str, Any]:
    """One step inside a savepoint: a step that fails is marked failed, the batch goes on."""
    mark = txn.audit.mark()
    try:
        with txn.conn.begin_nested():
            return fire_step(txn, timer)
    except Exception as err:  # recorded, never silently dropped
        txn.audit.rollback_to(mark)
        log.exception("步骤 %s 执行失败", timer["id"])
        message = f"{type(err).__name__}: {err}"[:400]
        _finish(txn, timer, FAILED, message)
        txn.audit.append(at=txn.now, actor=txn.actor.login, action="timer_failed",
                         item_id=timer["item_id"], event=timer["step"], reason=message)
        return _outcome(timer, FAILED, message, txn.now)


def fire_step(txn: Txn, timer: dict[str, Any]) -> dict[str, Any]:
    # An earlier firing in the same batch may have re-planned this item and cancelled the row.
    status = txn.conn.execute(STATUS_OF, {"_id": timer["id"]}).scalar()
    if status != PENDING:
        return _outcome(timer, CANCELLED, "已不适用", txn.now)
    item = items.load(txn.conn, timer["item_id"])
    workflow = txn.registry.get(item["workflow"], item["workflow_version"])
    spec = _spec(workflow.timers, timer["step"])
    late = int((txn.now - timer["due_at"]).total_seconds())
    stale = timer["deadline_version"] not in (0, item["deadline_version"])
    if spec is None or item["state"] not in spec.states or stale:
        _finish(txn, timer, CANCELLED, "已不适用", late)
        return _outcome(timer, CANCELLED, "已不适用", txn.now)
    if spec.skip_after_deadline and txn.now > item["current_deadline"]:
        return _skip(txn, timer, spec, "期限已过, 提醒不再适用", late)
    fired_event = None
    if spec.fire is not None:
        try:
            item = items.fire(txn, item["id"], spec.fire, dict(spec.values),
                              notify=spec.notice is None)
            fired_event = spec.fire
        except DubanError as err:
            return _skip(txn, timer, spec, f"事件未能办理: {err.message}", late)
    notice = None
    if spec.notice is not None:
        key = f"timer:{item['id']}:{timer['step']}:{timer['deadline_version']}"
        notices.request(txn, item, spec.notice, key=key, to=spec.to, cc=spec.cc,
                        payload={"step": spec.step, "label": spec.label, "late_seconds": late})
        notice = spec.notice
    _finish(txn, timer, FIRED, None, late)
    txn.audit.append(
        at=txn.now, actor=txn.actor.login, action="timer_fired", item_id=item["id"],
        event=timer["step"], reason=spec.label,
        payload={"due_at": timer["due_at"], "late_seconds": late, "fired_event": fired_event,
                 "notice": notice, "deadline_version": timer["deadline_version"]},
    )
    if spec.anchor is Anchor.monthly:
        reconcile(txn, item, workflow)  # a recurring step plans its next occurrence
    return _outcome(timer, FIRED, spec.label, txn.now, late)


def _skip(txn: Txn, timer: dict[str, Any], spec: TimerSpec, why: str, late: int) -> dict:
    _finish(txn, timer, SKIPPED, why, late)
    txn.audit.append(at=txn.now, actor=txn.actor.login, action="timer_skipped",
                     item_id=timer["item_id"], event=timer["step"], reason=why,
                     payload={"due_at": timer["due_at"], "late_seconds": late})
    return _outcome(timer, SKIPPED, why, txn.now, late)


FINISH = update(TIMER).where(TIMER.c.id == bindparam("_id")).values(
    status=bindparam("status"), fired_at=bindparam("fired_at"),
    late_seconds=bindparam("late_seconds"), outcome=bindparam("outcome"),
)
STATUS_OF = select(TIMER.c.status).where(TIMER.c.id == bindparam("_id"))


def _finish(txn: Txn, timer: dict[str, Any], status: str, outcome: str | None,
            late: int | None = None) -> None:
    txn.conn.execute(FINISH, {"_id": timer["id"], "status": status, "fired_at": txn.now,
                              "late_seconds": late, "outcome": outcome})


def _spec(specs: tuple[TimerSpec, ...], step: str) -> TimerSpec | None:
    name = step.split(":", 1)[0]
    return next((spec for spec in specs if spec.step == name), None)


def _outcome(timer: dict[str, Any], status: str, note: str | None, now: datetime,
             late: int | None = None) -> dict[str, Any]:
    return {"timer_id": timer["id"], "item_id": timer["item_id"], "step": timer["step"],
            "status": status, "note": note, "late_seconds": late, "at": now}
