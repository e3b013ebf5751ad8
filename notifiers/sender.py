"""The sender: delivers what the outbox holds, at least once, and records every outcome.

The loop reads like a work queue's: claim a batch of due deliveries with a lease (a short
transaction), send them with no transaction open, make them durable, and record the results
in one transaction with their audit events. Transient failures are retried with exponential
backoff and jitter; after ``max_attempts``, or at once on a permanent failure, the delivery
is dead.
"""

from __future__ import annotations

import logging
import random
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from duban.engine import items
from duban.engine.models import NOTICE, DeliveryStatus
from duban.engine.ports import Channel, DeliveryError, Outgoing, Permanent, Transient
from duban.engine.service import Service
from duban.engine.ticker import counted
from duban.engine.timeutil import local_text
from duban.engine.txn import Txn, WrittenNotice
from duban.notifiers import channels, deliveries
from duban.notifiers.config import NoticeConfig
from duban.notifiers.outbox import Outbox, outbox_of

log = logging.getLogger("duban.sender")
DEFAULT_BATCH = 50


@dataclass
class SendReport:
    """What a sending run did: deliveries by outcome, notices rendered late, each outcome."""

    counts: Counter[DeliveryStatus] = field(default_factory=Counter)
    rendered: int = 0
    batches: int = 0
    repeats_possible: int = 0  # sent again after an attempt that left no result
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    sent = counted(DeliveryStatus.sent)
    failed = counted(DeliveryStatus.failed)
    dead = counted(DeliveryStatus.dead)

    def as_json(self) -> dict[str, Any]:
        return {"sent": self.sent, "failed": self.failed, "dead": self.dead,
                "rendered": self.rendered, "batches": self.batches,
                "repeats_possible": self.repeats_possible, "outcomes": self.outcomes}


@dataclass
class Result:
    message: Outgoing
    attempts: int
    error: DeliveryError | None = None
    detail: str = ""


def deliver(
    service: Service,
    *,
    batch_size: int = DEFAULT_BATCH,
    should_stop: Callable[[], bool] = lambda: False,
    keep_outcomes: bool = True,
) -> SendReport:
    """Send everything due at the service clock's now, batch after batch."""
    outbox = outbox_of(service)
    report = SendReport(rendered=render_waiting(service))
    opened = Channels(outbox)
    run = Run(service, opened, outbox.config, report, keep_outcomes)
    try:
        while not should_stop():
            with service.system_transaction() as txn:
                claimed = deliveries.claim_due_deliveries(txn, batch_size,
                                                          outbox.config.lease_seconds)
            if not claimed:
                break
            report.batches += 1
            run.files([m for m in claimed if m.channel in DURABLE_BY_BATCH])
            run.one_by_one(_units([m for m in claimed if m.channel not in DURABLE_BY_BATCH],
                                  outbox.config))
            if len(claimed) < batch_size:
                break
    finally:
        opened.close()
    return report


# The outbox folder is made durable once per batch (one syncfs) before the batch is recorded.
# Every other channel's answer is its receipt: each message is recorded as it is answered, and
# its start is recorded before it leaves, so that a sender killed mid-batch sends again only
# the one message it was sending (which the receiver may or may not have).
DURABLE_BY_BATCH = {"file"}


@dataclass
class Run:
    """One sending run: where results are recorded and counted."""

    service: Service
    opened: Channels
    config: NoticeConfig
    report: SendReport
    keep: bool

    def files(self, messages: list[Outgoing]) -> None:
        if messages:
            results = [_send_one(self.opened, message) for message in messages]
            self.opened.commit()  # durable before recorded as delivered
            with self.service.system_transaction() as txn:
                self._record_all(txn, results, started=False)

    def one_by_one(self, units: list[list[Outgoing]]) -> None:
        """Each unit (one message, or one digest of several) is started, sent and recorded;
        a unit's result and the next unit's start share a transaction. A message whose lease
        another sender has taken meanwhile (a slow batch outlived it) is left to that one."""
        if not units:
            return
        with self.service.system_transaction() as txn:
            started = self._start(txn, units[0])
        for index, unit in enumerate(units):
            following = units[index + 1] if index + 1 < len(units) else []
            unit = [message for message in unit if message.delivery_id in started]
            results: list[Result] = []
            if len(unit) == 1:
                results = [_send_one(self.opened, unit[0])]
            elif unit:
                results = _send_digest(self.opened, unit, self.service)
            if unit:
                self.opened.commit(unit[0].channel)
            with self.service.system_transaction() as txn:
                self._record_all(txn, results, started=True)
                started = self._start(txn, following)

    def _start(self, txn: Any, unit: list[Outgoing]) -> set[int]:
        return {message.delivery_id for message in unit
                if deliveries.start(txn, message, self.config.lease_seconds)}

    def _record_all(self, txn: Any, results: list[Result], *, started: bool) -> None:
        if not results:
            return
        attempts = deliveries.attempts_of(txn, [r.message.delivery_id for r in results])
        for result in results:
            result.attempts = attempts.get(result.message.delivery_id, 0) + (not started)
            self._one(txn, result)
        deliveries.summarize(txn, {r.message.notice["id"] for r in results})

    def _one(self, txn: Any, result: Result) -> None:
        status, next_at = _outcome(result, self.config, txn.now)
        error = result.error.message[:800] if result.error else None
        message = result.message
        if not deliveries.record(txn, message.delivery_id, status, result.attempts, next_at,
                                 error):
            return  # another sender recorded it after our lease ran out
        self.report.counts[status] += 1
        self.report.repeats_possible += message.interrupted and status is DeliveryStatus.sent
        notice = message.notice
        payload = {"notice": notice["id"], "delivery": message.delivery_id,
                   "channel": message.channel, "key": message.key,
                   "doc_number": notice["doc_number"], "attempt": result.attempts,
                   "next_attempt_at": next_at if status is DeliveryStatus.failed else None}
        if message.interrupted:
            payload["after_interrupted_attempt"] = True
        txn.audit.append(at=txn.now, actor=txn.actor.login, action="notice",
                         item_id=notice["item_id"], event=status.value,
                         reason=error or result.detail, payload=payload)
        if self.keep:
            self.report.outcomes.append({
                "delivery": message.delivery_id, "notice": notice["id"],
                "channel": message.channel, "target": message.target, "status": status.value,
                "attempt": result.attempts, "detail": error or result.detail,
                "title": notice["title"], "after_interrupted_attempt": message.interrupted})


class Channels:
    """The channels of one sending run, built when first needed."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox
        self._built: dict[str, Channel] = {}

    def get(self, name: str) -> Any:
        if name not in self._built:
            self._built[name] = channels.build(name, self.outbox.config, self.outbox.renderer)
        return self._built[name]

    def commit(self, name: str | None = None) -> None:
        """Make what was sent durable: on every channel built, or on ``name`` if built (one
        that could not be built sent nothing)."""
        for built, channel in self._built.items():
            if name is None or built == name:
                channel.commit()

    def close(self) -> None:
        for channel in self._built.values():
            channel.close()


def _units(messages: list[Outgoing], config: NoticeConfig) -> list[list[Outgoing]]:
    """What goes out as one: a message, or with ``digest_at`` one person's mails of a day."""
    units: list[list[Outgoing]] = []
    digests: dict[str, list[Outgoing]] = defaultdict(list)
    for message in messages:
        if message.channel == "smtp" and config.digest_at is not None:
            digests[message.target].append(message)
        else:
            units.append([message])
    return units + list(digests.values())


def _send_one(opened: Channels, message: Outgoing) -> Result:
    try:
        detail = opened.get(message.channel).send(message)
    except DeliveryError as err:
        return Result(message, 0, err)
    except Exception as err:  # a channel bug must not lose the batch's other results
        log.exception("送达 %s 出错", message.key)
        return Result(message, 0, Transient(f"{type(err).__name__}: {err}"))
    return Result(message, 0, detail=detail)


def _send_digest(opened: Channels, group: list[Outgoing], service: Service) -> list[Result]:
    day = local_text(service.clock.now(), service.tz)[:10]
    try:
        detail = opened.get("smtp").send_digest(group, day)
    except DeliveryError as err:
        return [Result(message, 0, err) for message in group]
    except Exception as err:  # as in _send_one: the batch's other results are kept
        log.exception("汇总送达 %s 出错", group[0].target)
        return [Result(message, 0, Transient(f"{type(err).__name__}: {err}"))
                for message in group]
    return [Result(message, 0, detail=detail) for message in group]


def _outcome(result: Result, config: NoticeConfig,
             now: datetime) -> tuple[DeliveryStatus, datetime]:
    if result.error is None:
        return DeliveryStatus.sent, now
    if isinstance(result.error, Permanent) or result.attempts >= config.max_attempts:
        return DeliveryStatus.dead, now
    return DeliveryStatus.failed, now + timedelta(seconds=backoff(result.attempts, config))


def backoff(attempts: int, config: NoticeConfig, rng: random.Random | None = None) -> float:
    """Seconds before the next try: doubling from ``backoff_seconds`` up to the cap, with
    jitter (half to all of it) so that a recovering server is not hit by everyone at once."""
    ceiling = min(config.backoff_cap_seconds, config.backoff_seconds * 2 ** (attempts - 1))
    return ceiling * (rng or random).uniform(0.5, 1.0)


def _item_of(txn: Txn, notice: dict[str, Any]) -> dict[str, Any] | None:
    """The item as the notice's event left it; as it is now for a notice written before
    notices kept it."""
    if notice["item_state"] is not None:
        return items.thaw(notice["item_state"])
    return items.load(txn, notice["item_id"]) if notice["item_id"] else None


def render_waiting(service: Service, limit: int = 200) -> int:
    """Render the notices that have no document yet (a template was broken when they were
    written, they were written by a process without the outbox, or a tick stopped between
    committing its firings and making their documents), each from the item as its event left
    it. Returns how many."""
    outbox = outbox_of(service)
    done = 0
    after = 0
    while True:
        with service.system_transaction() as txn:
            waiting = [dict(row) for row in txn.conn.execute(
                select(NOTICE).where(NOTICE.c.document.is_(None),
                                     NOTICE.c.status == DeliveryStatus.pending.value,
                                     NOTICE.c.id > after)
                .order_by(NOTICE.c.id).limit(limit)
                .with_for_update(skip_locked=True)).mappings()]
            entries = [WrittenNotice(notice, _item_of(txn, notice)) for notice in waiting]
            done += outbox.materialize(txn, entries)
        if len(waiting) < limit:
            return done
        after = waiting[-1]["id"]
