"""One tick: claim the timer steps that are due and fire each exactly once.

The loop reads like a work queue's: claim a batch, fire each step, commit, log. A batch is
fired in one write transaction: each firing's state change, audit events, notices and the
step's own row commit together, so a crash loses the whole batch or nothing, and the next
tick fires what was lost. See :func:`duban.engine.timer_store.claim_due_timers` for how
several daemons share the work.

A batch is set-based (:mod:`duban.engine.batch`): its items and timer rows are read once,
every step is decided in Python by the same code as a single firing, a step that fails is
undone in Python and recorded as failed, and the decisions are written in one statement per
table. If that write fails, the batch is fired again step by step, each step in a savepoint.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.exc import DBAPIError

from duban.engine import items, notices, timer_store
from duban.engine.batch import Batch, BatchWriteFailed
from duban.engine.errors import DubanError, IntegrityFailure, SetupError
from duban.engine.models import TimerStatus
from duban.engine.timers import Anchor, TimerSpec
from duban.engine.txn import Txn, WrittenNotice

log = logging.getLogger("duban.ticker")
DEFAULT_BATCH = 200
NOT_APPLICABLE = "已不适用"
BATCH_FATAL = (IntegrityFailure, SetupError)  # the record or the setup, not the step


def counted(status: Any) -> Any:
    """A report's figure: how many ended with ``status``."""
    return property(lambda report: report.counts[status])


@dataclass
class TickReport:
    """What a tick did: how many steps ended how, and each step if asked for."""

    counts: Counter[TimerStatus] = field(default_factory=Counter)
    batches: int = 0
    steps: list[dict[str, Any]] = field(default_factory=list)
    fired = counted(TimerStatus.fired)
    skipped = counted(TimerStatus.skipped)
    cancelled = counted(TimerStatus.cancelled)
    failed = counted(TimerStatus.failed)

    @property
    def handled(self) -> int:
        return sum(self.counts.values())

    def as_json(self) -> dict[str, Any]:
        return {"fired": self.fired, "skipped": self.skipped, "cancelled": self.cancelled,
                "failed": self.failed, "batches": self.batches, "steps": self.steps}


def tick(
    transactions: Callable[[], AbstractContextManager[Txn]],
    *,
    batch_size: int = DEFAULT_BATCH,
    should_stop: Callable[[], bool] = lambda: False,
    keep_steps: bool = True,
    set_based: bool = True,
    documents: Callable[[list[WrittenNotice]], Any] | None = None,
) -> TickReport:
    """Fire everything due, batch after batch, each batch in one of ``transactions()``;
    ``set_based=False`` fires every batch step by step.

    A batch commits its notices' rows, each with the item as its step left it, and not their
    documents: ``documents`` makes them just after the commit, or, when None, the sender does
    before it delivers (:func:`duban.notifiers.sender.render_waiting`, which is also what
    makes them after a crash in between). Either way the documents are made from the rows
    alone, the same whenever they are made; the firings do not wait for the templates."""
    report = TickReport()
    while not should_stop():
        first = len(report.steps)
        with transactions() as txn:
            txn.defer_documents = True
            outcomes = fire_batch(txn, batch_size, set_based=set_based)
        if txn.deferred and documents is not None:
            documents(txn.deferred)
        report.batches += bool(outcomes)
        for outcome in outcomes:  # logged once committed
            report.counts[outcome["status"]] += 1
            log.info("事项 %s 步骤 %s: %s", outcome["item_id"], outcome["step"],
                     outcome["status"].value)
        if keep_steps:
            report.steps[first:] = outcomes
        if len(outcomes) < batch_size:
            break
    return report


def fire_batch(txn: Txn, limit: int, *, set_based: bool = True) -> list[dict[str, Any]]:
    """Claim up to ``limit`` due steps and fire each; returns their outcomes. A directory
    whose seal is broken stops the whole batch before anything is claimed: its steps stay due
    for the tick after the reseal, instead of ending failed or skipped."""
    txn.directory  # noqa: B018 (read for its check)
    due = timer_store.claim_due_timers(txn, limit)
    if set_based and due:
        outcomes = _fire_set_based(txn, due)
        if outcomes is not None:
            return outcomes
    return [_fire_isolated(txn, timer) for timer in due]


def _fire_set_based(txn: Txn, due: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The batch decided in Python and written at once; None when the write failed and
    nothing of it is left (the caller then fires it step by step)."""
    mark = txn.mark()
    savepoint = txn.conn.begin_nested()
    txn.batch = Batch.load(txn.conn, (timer["item_id"] for timer in due))
    try:
        outcomes = [_fire_held(txn, timer) for timer in due]
        txn.batch.flush(txn.conn)
        txn.notices_written.extend(WrittenNotice(*written) for written in txn.batch.written)
    except (BatchWriteFailed, DBAPIError) as err:
        savepoint.rollback()
        txn.undo(mark)
        log.warning("批量执行未成功, 改为逐条执行: %s", str(err).splitlines()[0][:200])
        return None
    finally:
        txn.batch = None
    savepoint.commit()
    return outcomes


def _fire_held(txn: Txn, timer: dict[str, Any]) -> dict[str, Any]:
    """One step of a set-based batch: a step that fails is undone in Python."""
    assert txn.batch is not None
    marks = txn.mark(), txn.batch.mark(timer["item_id"])
    try:
        return fire_step(txn, timer)
    except (*BATCH_FATAL, BatchWriteFailed, DBAPIError):
        raise  # not this step's fault
    except Exception as err:
        txn.undo(marks[0])
        txn.batch.undo(marks[1])
        return _failed(txn, timer, err)


def _fire_isolated(txn: Txn, timer: dict[str, Any]) -> dict[str, Any]:
    """One step inside a savepoint: a step that fails is marked failed, the batch goes on."""
    mark = txn.mark()
    try:
        with txn.conn.begin_nested():
            return fire_step(txn, timer)
    except BATCH_FATAL:
        raise  # not this step's fault: the batch rolls back and is tried again
    except Exception as err:  # recorded, never silently dropped
        txn.undo(mark)
        return _failed(txn, timer, err)


def _failed(txn: Txn, timer: dict[str, Any], err: Exception) -> dict[str, Any]:
    log.exception("步骤 %s 执行失败", timer["id"])
    message = f"{type(err).__name__}: {err}"[:400]
    timer_store.finish(txn, timer, TimerStatus.failed, message)
    txn.audit.append(at=txn.now, actor=txn.actor.login, action="timer_failed",
                     item_id=timer["item_id"], event=timer["step"], reason=message)
    return _outcome(timer, TimerStatus.failed, message, txn.now)


def fire_step(txn: Txn, timer: dict[str, Any]) -> dict[str, Any]:
    # An earlier firing in the same batch may have re-planned this item and cancelled the row.
    if timer_store.status_of(txn, timer) is not TimerStatus.pending:
        return _outcome(timer, TimerStatus.cancelled, NOT_APPLICABLE, txn.now)
    item = items.load(txn, timer["item_id"])
    workflow = txn.registry.get(item["workflow"], item["workflow_version"])
    spec = _spec(workflow.timers, timer["step"])
    late = int((txn.now - timer["due_at"]).total_seconds())
    stale = timer["deadline_version"] not in (0, item["deadline_version"])
    if spec is None or item["state"] not in spec.states or stale:
        timer_store.finish(txn, timer, TimerStatus.cancelled, NOT_APPLICABLE, late)
        return _outcome(timer, TimerStatus.cancelled, NOT_APPLICABLE, txn.now)
    if spec.skip_after_deadline and txn.now > item["current_deadline"]:
        return _skip(txn, timer, "期限已过, 提醒不再适用", late)
    fired_event = None
    if spec.fire is not None:
        try:
            item = items.fire(txn, item["id"], spec.fire, dict(spec.values),
                              notify=spec.notice is None)
            fired_event = spec.fire
        except BATCH_FATAL:
            raise
        except DubanError as err:
            return _skip(txn, timer, f"事件未能办理: {err.message}", late)
    notice = None
    if spec.notice is not None:
        key = f"timer:{item['id']}:{timer['step']}:{timer['deadline_version']}"
        notices.request(txn, item, spec.notice, key=key, to=spec.to, cc=spec.cc,
                        payload={"step": spec.step, "label": spec.label, "late_seconds": late})
        notice = spec.notice
    timer_store.finish(txn, timer, TimerStatus.fired, None, late)
    txn.audit.append(
        at=txn.now, actor=txn.actor.login, action="timer_fired", item_id=item["id"],
        event=timer["step"], reason=spec.label,
        payload={"due_at": timer["due_at"], "late_seconds": late, "fired_event": fired_event,
                 "notice": notice, "deadline_version": timer["deadline_version"]},
    )
    if spec.anchor is Anchor.monthly:
        timer_store.reconcile(txn, item, workflow)  # a recurring step plans its next one
    return _outcome(timer, TimerStatus.fired, spec.label, txn.now, late)


def _skip(txn: Txn, timer: dict[str, Any], why: str, late: int) -> dict[str, Any]:
    timer_store.finish(txn, timer, TimerStatus.skipped, why, late)
    txn.audit.append(at=txn.now, actor=txn.actor.login, action="timer_skipped",
                     item_id=timer["item_id"], event=timer["step"], reason=why,
                     payload={"due_at": timer["due_at"], "late_seconds": late})
    return _outcome(timer, TimerStatus.skipped, why, txn.now, late)


def _spec(specs: tuple[TimerSpec, ...], step: str) -> TimerSpec | None:
    name = step.split(":", 1)[0]
    return next((spec for spec in specs if spec.step == name), None)


def _outcome(timer: dict[str, Any], status: TimerStatus, note: str | None, now: datetime,
             late: int | None = None) -> dict[str, Any]:
    return {"timer_id": timer["id"], "item_id": timer["item_id"], "step": timer["step"],
            "status": status, "note": note, "late_seconds": late, "at": now}
