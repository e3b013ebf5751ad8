"""The sender: delivers what the outbox holds, at least once, and records every outcome.

A batch of due deliveries is claimed with a lease (a short transaction; ``SKIP LOCKED`` on
PostgreSQL so several daemons share the work), sent with no transaction open, and the results
recorded in one transaction with their audit events. A sender killed in between leaves the
lease to run out; the next one sends again under the same key, which every channel uses to
drop the repeat. Transient failures are retried with exponential backoff and jitter; after
``max_attempts``, or at once on a permanent failure, the delivery is dead.
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, or_, select, update

from duban.engine import items
from duban.engine.models import DELIVERY, NOTICE
from duban.engine.timeutil import local_text
from duban.notifiers.channels import DeliveryError, Outgoing, Permanent, Transient
from duban.notifiers.channels.file import FileChannel
from duban.notifiers.channels.smtp import SmtpChannel
from duban.notifiers.channels.webhook import WebhookChannel
from duban.notifiers.config import NoticeConfig
from duban.notifiers.outbox import DEAD, FAILED, PENDING, SENT, Outbox

if TYPE_CHECKING:
    from duban.engine.service import Service

log = logging.getLogger("duban.sender")
DEFAULT_BATCH = 50
NOTICE_COLUMNS = (NOTICE.c.key.label("notice_key"), NOTICE.c.kind, NOTICE.c.doc_number,
                  NOTICE.c.title, NOTICE.c.document, NOTICE.c.body_text,
                  NOTICE.c.body_markdown, NOTICE.c.body_html, NOTICE.c.item_id,
                  NOTICE.c.recipients, NOTICE.c.cc)
RECORD = (
    update(DELIVERY)
    .where(DELIVERY.c.id == bindparam("_id"), DELIVERY.c.status.in_((PENDING, FAILED)))
    .values(status=bindparam("status"), attempts=bindparam("attempts"),
            next_attempt_at=bindparam("next_attempt_at"), lease_until=None,
            last_error=bindparam("last_error"), sent_at=bindparam("sent_at"))
)


@dataclass
class SendReport:
    sent: int = 0
    failed: int = 0
    dead: int = 0
    rendered: int = 0
    batches: int = 0
    outcomes: list[dict[str, Any]] = field(default_factory=list)


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
    outbox: Outbox = service.outbox
    report = SendReport(rendered=render_waiting(service))
    channels = Channels(outbox)
    try:
        while not should_stop():
            claimed = _claim(service, batch_size, outbox.config)
            if not claimed:
                break
            report.batches += 1
            results = _send_all(channels, claimed, outbox.config, service)
            channels.commit()  # durable before recorded as delivered
            _record(service, results, outbox.config, report, keep_outcomes)
            if len(claimed) < batch_size:
                break
    finally:
        channels.close()
    return report


class Channels:
    """The channel objects of one sending run, built when first needed."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox
        self._built: dict[str, Any] = {}

    def get(self, name: str) -> Any:
        if name not in self._built:
            config = self.outbox.config
            if name == "file":
                self._built[name] = FileChannel(config.outbox, self.outbox.renderer,
                                                config.attach_docx)
            elif name == "smtp":
                if not config.smtp.configured:
                    raise Permanent("未设置邮件服务器 [smtp] host 与 sender")
                self._built[name] = SmtpChannel(config.smtp, self.outbox.renderer,
                                                config.attach_docx)
            elif name == "webhook":
                self._built[name] = WebhookChannel(config.webhook_timeout)
            else:
                raise Permanent(f"未知渠道 {name}")
        return self._built[name]

    def commit(self) -> None:
        for channel in self._built.values():
            if hasattr(channel, "commit"):
                channel.commit()

    def close(self) -> None:
        smtp = self._built.get("smtp")
        if smtp is not None:
            smtp.close()


def _claim(service: Service, batch_size: int, config: NoticeConfig) -> list[Outgoing]:
    with service.system_transaction() as txn:
        now = txn.now
        query = (
            select(DELIVERY, *NOTICE_COLUMNS)
            .join(NOTICE, NOTICE.c.id == DELIVERY.c.notice_id)
            .where(DELIVERY.c.status.in_((PENDING, FAILED)), DELIVERY.c.next_attempt_at <= now,
                   or_(DELIVERY.c.lease_until.is_(None), DELIVERY.c.lease_until <= now))
            .order_by(DELIVERY.c.next_attempt_at, DELIVERY.c.id)
            .limit(batch_size)
        )
        if txn.conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True, of=DELIVERY)
        rows = [dict(row) for row in txn.conn.execute(query).mappings()]
        if rows:
            lease = now + timedelta(seconds=config.lease_seconds)
            txn.conn.execute(update(DELIVERY).where(DELIVERY.c.id == bindparam("_id"))
                             .values(lease_until=lease), [{"_id": r["id"]} for r in rows])
    return [_outgoing(row) for row in rows]


def _outgoing(row: dict[str, Any]) -> Outgoing:
    notice = {"key": row["notice_key"], "id": row["notice_id"]}
    for column in NOTICE_COLUMNS:
        if column.name != "notice_key":
            notice[column.name] = row[column.name]
    return Outgoing(row["id"], row["key"], row["channel"], row["target"], row["style"], notice)


def _send_all(channels: Channels, claimed: list[Outgoing], config: NoticeConfig,
              service: Service) -> list[Result]:
    results: list[Result] = []
    digests: dict[str, list[Outgoing]] = defaultdict(list)
    for message in claimed:
        if message.channel == "smtp" and config.digest_at is not None:
            digests[message.target].append(message)
        else:
            results.append(_send_one(channels, message))
    for group in digests.values():
        results.extend(_send_digest(channels, group, service))
    return results


def _send_one(channels: Channels, message: Outgoing) -> Result:
    try:
        detail = channels.get(message.channel).send(message)
    except DeliveryError as err:
        return Result(message, 0, err)
    except Exception as err:  # a channel bug must not lose the batch's other results
        log.exception("送达 %s 出错", message.key)
        return Result(message, 0, Transient(f"{type(err).__name__}: {err}"))
    return Result(message, 0, detail=detail)


def _send_digest(channels: Channels, group: list[Outgoing], service: Service) -> list[Result]:
    if len(group) == 1:
        return [_send_one(channels, group[0])]
    day = local_text(service.clock.now(), service.tz)[:10]
    try:
        detail = channels.get("smtp").send_digest(group, day)
    except DeliveryError as err:
        return [Result(message, 0, err) for message in group]
    return [Result(message, 0, detail=detail) for message in group]


def _record(service: Service, results: list[Result], config: NoticeConfig,
            report: SendReport, keep: bool) -> None:
    with service.system_transaction() as txn:
        attempts = dict(txn.conn.execute(
            select(DELIVERY.c.id, DELIVERY.c.attempts)
            .where(DELIVERY.c.id.in_([r.message.delivery_id for r in results]))).all())
        for result in results:
            result.attempts = attempts.get(result.message.delivery_id, 0) + 1
            status, next_at = _outcome(result, config, txn.now)
            error = result.error.message[:800] if result.error else None
            done = txn.conn.execute(RECORD, {
                "_id": result.message.delivery_id, "status": status,
                "attempts": result.attempts, "next_attempt_at": next_at,
                "last_error": error, "sent_at": txn.now if status == SENT else None,
            }).rowcount
            if not done:
                continue  # another sender recorded it after our lease ran out
            setattr(report, status, getattr(report, status) + 1)
            notice = result.message.notice
            txn.audit.append(
                at=txn.now, actor=txn.actor.login, action="notice", item_id=notice["item_id"],
                event=status, reason=error or result.detail,
                payload={"notice": notice["id"], "delivery": result.message.delivery_id,
                         "channel": result.message.channel, "key": result.message.key,
                         "doc_number": notice["doc_number"], "attempt": result.attempts,
                         "next_attempt_at": next_at if status == FAILED else None})
            if keep:
                report.outcomes.append({
                    "delivery": result.message.delivery_id, "notice": notice["id"],
                    "channel": result.message.channel, "target": result.message.target,
                    "status": status, "attempt": result.attempts,
                    "detail": error or result.detail, "title": notice["title"]})
        summarize(txn.conn, {r.message.notice["id"] for r in results})


def _outcome(result: Result, config: NoticeConfig, now: datetime) -> tuple[str, datetime]:
    if result.error is None:
        return SENT, now
    if isinstance(result.error, Permanent) or result.attempts >= config.max_attempts:
        return DEAD, now
    return FAILED, now + timedelta(seconds=backoff(result.attempts, config))


def backoff(attempts: int, config: NoticeConfig, rng: random.Random | None = None) -> float:
    """Seconds before the next try: doubling from ``backoff_seconds`` up to the cap, with
    jitter (half to all of it) so that a recovering server is not hit by everyone at once."""
    ceiling = min(config.backoff_cap_seconds, config.backoff_seconds * 2 ** (attempts - 1))
    return ceiling * (rng or random).uniform(0.5, 1.0)


def summarize(conn: Connection, notice_ids: set[int]) -> None:
    """A notice's status follows its deliveries: dead if one is dead, failed if one will be
    retried, pending while one waits, sent when all are sent."""
    if not notice_ids:
        return
    by_notice: dict[int, list[tuple[str, str | None]]] = defaultdict(list)
    rows = conn.execute(select(DELIVERY.c.notice_id, DELIVERY.c.status, DELIVERY.c.last_error)
                        .where(DELIVERY.c.notice_id.in_(notice_ids)))
    for notice_id, status, error in rows:
        by_notice[notice_id].append((status, error))
    changes = []
    for notice_id, found in by_notice.items():
        statuses = {status for status, _ in found}
        status = next((s for s in (DEAD, FAILED, PENDING) if s in statuses), SENT)
        error = next((e for s, e in found if s == status and e), None)
        changes.append({"_id": notice_id, "status": status, "last_error": error})
    conn.execute(update(NOTICE).where(NOTICE.c.id == bindparam("_id"))
                 .values(status=bindparam("status"), last_error=bindparam("last_error")), changes)


def render_waiting(service: Service, limit: int = 200) -> int:
    """Render the notices that have no document yet (a template was broken when they were
    written, or they were written before the outbox existed). Returns how many were done."""
    done = 0
    after = 0
    while True:
        with service.system_transaction() as txn:
            waiting = [dict(row) for row in txn.conn.execute(
                select(NOTICE).where(NOTICE.c.document.is_(None), NOTICE.c.status == PENDING,
                                     NOTICE.c.id > after)
                .order_by(NOTICE.c.id).limit(limit)).mappings()]
            entries = [(notice, items.load(txn.conn, notice["item_id"])
                        if notice["item_id"] else None, txn.now, txn.tz, txn.calendar,
                        txn.actor.login) for notice in waiting]
            done += service.outbox.materialize(txn.conn, txn.audit, entries)
        if len(waiting) < limit:
            return done
        after = waiting[-1]["id"]
