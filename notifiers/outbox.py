"""The outbox: the notice sink that makes each written notice an official document.

At the end of the transaction that wrote them (:class:`duban.engine.ports.NoticeSink`), the
notices are rendered, numbered (the number is taken in the same transaction) and given one
delivery per channel and address. If the admin's template cannot be rendered, the event still
happens: the notice waits unrendered with the error, and the sender renders it once the
template is fixed.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, time
from email.utils import formataddr
from typing import Any

from sqlalchemy import bindparam, select, update

from duban.engine.errors import DubanError, InvalidInput, SetupError
from duban.engine.models import NOTICE, DeliveryStatus
from duban.engine.service import Service
from duban.engine.settings import Settings
from duban.engine.timeutil import zone
from duban.engine.txn import ReadTxn, Txn, WrittenNotice
from duban.engine.validation import check_email, shown
from duban.engine.workcalendar import WorkCalendar
from duban.notifiers import context, deliveries, numbers
from duban.notifiers.config import NoticeConfig, notice_config
from duban.notifiers.render import Document, Renderer, cn_date

log = logging.getLogger("duban.outbox")
NO_CHANNEL = "没有可用的送达渠道或地址"
NUMBER_SLOT = "\ue000文号\ue000"  # private-use marks: no template or escaping produces them

RENDERED = update(NOTICE).where(NOTICE.c.id == bindparam("_id")).values(
    doc_number=bindparam("doc_number"), title=bindparam("title"),
    document=bindparam("document"), body_text=bindparam("body_text"),
    body_markdown=bindparam("body_markdown"), body_html=bindparam("body_html"),
    status=bindparam("status"), last_error=bindparam("last_error"),
)


class Outbox:
    """Renders, numbers and plans the deliveries of notices; one per process."""

    def __init__(self, config: NoticeConfig, renderer: Renderer) -> None:
        self.config = config
        self.renderer = renderer

    @classmethod
    def from_settings(cls, settings: Settings) -> Outbox:
        """The office's notice settings and templates, read once."""
        config = notice_config(settings)
        return cls(config, Renderer(config.templates_dir, zone(settings.timezone)))

    def flush(self, txn: Txn, written: Sequence[WrittenNotice]) -> None:
        """The notice sink's end of a transaction: make the documents of ``written``."""
        self.materialize(txn, written)

    def render_committed(self, txn: Txn, written: Sequence[WrittenNotice]) -> int:
        """Make the documents of notices an earlier transaction committed without them, each
        from the item as its event left it; those another process has rendered meanwhile (or
        is rendering: PostgreSQL's lock is skipped, not waited on) are left alone."""
        waiting = set(txn.conn.execute(
            waiting_documents([entry.row["id"] for entry in written])).scalars())
        return self.materialize(txn, [entry for entry in written if entry.row["id"] in waiting])

    def materialize(self, txn: Txn, entries: Sequence[WrittenNotice]) -> int:
        """Render written notices, number them and plan their deliveries; returns how many.

        Everything is rendered with a placeholder for the number first, so a template that
        fails takes no number: that notice stays pending with the error and the others go on.
        Numbers are then taken in one statement per prefix and year, and put in place."""
        ready: list[tuple[dict, Document, list[str], list[dict], tuple | None]] = []
        for entry in entries:
            notice = entry.row
            try:
                document, series = self.compose(txn, notice, entry.item)
                bodies = [self.renderer.text(document), self.renderer.markdown(document),
                          self.renderer.html_page(document)]
                planned = self.plan_deliveries(txn, notice)
            except DubanError as err:
                self._waits(txn, notice, err.message)
                continue
            except Exception as err:  # one notice's fault must not hold up the transaction
                log.exception("通知 %s 未能生成", notice["key"])
                self._waits(txn, notice, f"{type(err).__name__}: {err}")
                continue
            ready.append((notice, document, bodies, planned, series))
        if not ready:
            return 0
        wanted = Counter(series for *_, series in ready if series is not None)
        first = {series: numbers.take(txn.conn, *series, count)
                 for series, count in wanted.items()}
        rows, planned_all = [], []
        for notice, document, bodies, planned, series in ready:
            number = None
            if series is not None:
                number = numbers.format_number(*series, first[series])
                first[series] += 1
            document = replace(document, doc_number=number)
            text, markdown, html = (body.replace(NUMBER_SLOT, number or "") for body in bodies)
            status = DeliveryStatus.pending if planned else DeliveryStatus.dead
            rows.append({"_id": notice["id"], "doc_number": number, "title": document.title[:400],
                         "document": document.as_json(), "body_text": text,
                         "body_markdown": markdown, "body_html": html,
                         "status": status.value, "last_error": None if planned else NO_CHANNEL})
            planned_all.extend(planned)
            txn.audit.append(at=txn.now, actor=txn.actor.login, action="notice",
                             item_id=notice["item_id"],
                             event="created" if planned else DeliveryStatus.dead.value,
                             reason=document.title if planned else NO_CHANNEL,
                             payload={"notice": notice["id"], "key": notice["key"],
                                      "kind": notice["kind"], "doc_number": number,
                                      "body_sha256": hashlib.sha256(text.encode()).hexdigest(),
                                      "to": list(notice["recipients"]),
                                      "cc": list(notice["cc"]),
                                      "deliveries": [(d["channel"], d["target"])
                                                     for d in planned]})
            self._record_unsendable(txn, notice, planned)
        txn.conn.execute(RENDERED, rows)
        deliveries.add(txn, planned_all)
        deliveries.summarize(txn, {row["notice_id"] for row in planned_all
                                   if row["status"] == deliveries.DEAD})
        return len(rows)

    @staticmethod
    def _waits(txn: Txn, notice: Mapping[str, Any], reason: str) -> None:
        """The notice stays unrendered with the reason; the sender tries it again later."""
        log.warning("通知 %s 未能生成: %s", notice["key"], reason)
        txn.conn.execute(update(NOTICE).where(NOTICE.c.id == notice["id"]).values(
            last_error=shown(reason, 800)))

    @staticmethod
    def _record_unsendable(txn: Txn, notice: Mapping[str, Any],
                           planned: list[dict[str, Any]]) -> None:
        """Deliveries dead from the start (an address no mail server may be given) are
        recorded as such, each with its reason."""
        for row in planned:
            if row["status"] == deliveries.DEAD:
                txn.audit.append(at=txn.now, actor=txn.actor.login, action="notice",
                                 item_id=notice["item_id"], event=DeliveryStatus.dead.value,
                                 reason=row["last_error"],
                                 payload={"notice": notice["id"], "channel": row["channel"],
                                          "key": row["key"], "attempt": 0})

    def compose(self, txn: ReadTxn, notice: Mapping[str, Any],
                item: Mapping[str, Any] | None) -> tuple[Document, tuple[str, int] | None]:
        """The notice as a document with a placeholder for its number, and the series
        (prefix, year) its number comes from, or None for an unnumbered note."""
        office = self.config.office
        at = notice.get("created_at") or txn.now  # as of the event, when rendered after it
        ctx = context.build(txn, item, notice["payload"], notice["recipients"], notice["cc"],
                            office=office, now=at)
        body = self.renderer.body(notice["kind"], ctx)
        series = None
        if body.numbered:
            prefix = office.circular_prefix if notice["kind"] == "circular" else office.doc_prefix
            series = (prefix, at.astimezone(txn.tz).year)
        default_recipient = ctx["item"]["lead_unit_name"] if item else "、".join(ctx["to_names"])
        document = Document(
            kind=notice["kind"], label=body.label, issuer=office.name,
            doc_number=NUMBER_SLOT if series else None,
            title=body.title, recipient=body.recipient or default_recipient,
            paragraphs=body.paragraphs, signature=office.signed_by,
            date=cn_date(at, txn.tz), cc="、".join(ctx["cc_names"]),
            contact=f"{office.contact} {office.phone}".strip(),
            table=body.table, table_after=body.table_after, signer=body.signer,
        )
        return document, series

    def plan_deliveries(self, txn: ReadTxn, notice: Mapping[str, Any]) -> list[dict[str, Any]]:
        """One delivery per configured channel and address of the notice's recipients."""
        directory = txn.directory
        key = notice["key"]
        planned: list[dict[str, Any]] = []

        def plan(channel: str, target: str, suffix: str, style: str | None = None,
                 at: datetime = txn.now) -> None:
            planned.append(deliveries.new_row(notice["id"], channel, target, style,
                                              f"{key}#{channel}{suffix}", at, txn.now))

        for channel in self.config.channels:
            if channel == "file":
                plan("file", "", "")
            elif channel == "smtp":
                at = txn.now
                if self.config.digest_at is not None:
                    at = digest_instant(txn.now, txn.tz, txn.calendar, self.config.digest_at)
                for login in [*notice["recipients"], *notice["cc"]]:
                    person = directory.people.get(login)
                    if person and person["email"]:
                        address = person["email"]
                        if plain_address(address):
                            plan("smtp", formataddr((person["name"], address)), f":{address}",
                                 at=at)
                        else:  # a row written around the validation: dead, not a crash
                            planned.append(deliveries.unsendable(
                                notice["id"], "smtp", address, f"{key}#smtp", txn.now))
            elif channel == "webhook":
                seen: set[str] = set()
                for login in notice["recipients"]:
                    person = directory.people.get(login)
                    unit = directory.units.get(person["unit_code"] or "") if person else None
                    if unit and unit["webhook"] and unit["code"] not in seen:
                        seen.add(unit["code"])
                        plan("webhook", unit["webhook"], f":{unit['code']}",
                             unit["webhook_style"] or "json")
        return planned


def waiting_documents(notice_ids: Sequence[int]) -> Any:
    """Which of these notices still have no document, locked for the transaction that will
    render them (PostgreSQL; SQLite's writer holds the database already)."""
    return (select(NOTICE.c.id)
            .where(NOTICE.c.id.in_(notice_ids), NOTICE.c.document.is_(None))
            .order_by(NOTICE.c.id).with_for_update(skip_locked=True))


def plain_address(address: str) -> bool:
    """Whether a stored address is the one plain address the directory accepts."""
    try:
        return check_email(address) == address
    except InvalidInput:
        return False


def outbox_of(service: Service) -> Outbox:
    """The outbox a service writes its notices through (assembled by ``duban.app``)."""
    sink = service.notice_sink
    if not isinstance(sink, Outbox):
        raise SetupError("此服务没有配置通知发件箱")
    return sink


def digest_instant(now: datetime, tz: Any, calendar: WorkCalendar, at: time) -> datetime:
    """When a recipient's merged mail of the working day goes out: today at ``at`` if that is
    still ahead on a working day, else at ``at`` on the next working day."""
    local = now.astimezone(tz)
    day = local.date()
    if not (calendar.is_workday(day) and local.time() < at):
        day = calendar.add_workdays(day, 1)
    return datetime.combine(day, at, tzinfo=tz)
