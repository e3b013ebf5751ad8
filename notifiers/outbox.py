"""The outbox: a notice is written in the transaction of the event or step that caused it.

The row carries the rendered document (with its number, taken in the same transaction) and
one delivery per channel and address. If the admin's template cannot be rendered, the event
still happens: the notice waits unrendered with the error, and the sender renders it once the
template is fixed (also notices written before this part existed).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, time
from email.utils import formataddr
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, bindparam, insert, select, update

from duban.engine.db import dialect_statement
from duban.engine.errors import DubanError
from duban.engine.models import DELIVERY, NOTICE
from duban.engine.workcalendar import WorkCalendar
from duban.notifiers import context, numbers
from duban.notifiers.config import NoticeConfig
from duban.notifiers.render import Document, Renderer, cn_date

if TYPE_CHECKING:
    from duban.engine.audit import AuditWriter

log = logging.getLogger("duban.outbox")
PENDING, SENT, FAILED, DEAD = "pending", "sent", "failed", "dead"
NO_CHANNEL = "没有可用的送达渠道或地址"
NUMBER_SLOT = "\ue000文号\ue000"  # private-use marks: no template or escaping produces them

RENDERED = update(NOTICE).where(NOTICE.c.id == bindparam("_id")).values(
    doc_number=bindparam("doc_number"), title=bindparam("title"),
    document=bindparam("document"), body_text=bindparam("body_text"),
    body_markdown=bindparam("body_markdown"), body_html=bindparam("body_html"),
    status=bindparam("status"), last_error=bindparam("last_error"),
)


class Outbox:
    """Writes notices and their deliveries; shared by the engine's transactions."""

    def __init__(self, config: NoticeConfig, renderer: Renderer) -> None:
        self.config = config
        self.renderer = renderer

    def enqueue(
        self,
        conn: Connection,
        audit: AuditWriter,
        *,
        item: Mapping[str, Any] | None,
        kind: str,
        key: str,
        to: Sequence[str],
        cc: Sequence[str],
        payload: Mapping[str, Any],
        now: datetime,
        tz: ZoneInfo,
        calendar: WorkCalendar,
        actor: str,
    ) -> int | None:
        """Write one notice unless its key exists; returns its id, or None if it existed."""
        cc = [login for login in cc if login not in to]  # nobody gets the same notice twice
        row = {"key": key, "item_id": item["id"] if item else None, "kind": kind,
               "recipients": list(to), "cc": cc, "payload": dict(payload),
               "status": PENDING, "created_at": now}
        notice_id = conn.execute(dialect_statement(conn, "notice_once", lambda insert: insert(
            NOTICE).on_conflict_do_nothing(index_elements=["key"]).returning(NOTICE.c.id)),
            row).scalar()
        if notice_id is None:
            return None  # this step or event already notified
        # Rendered and numbered at the end of the transaction (``flush``): the number's row
        # lock is then held only while the transaction finishes, not while it works.
        item_then = dict(item) if item is not None else None
        _waiting(conn).append(({**row, "id": notice_id}, item_then, now, tz, calendar, actor))
        return notice_id

    def flush(self, conn: Connection, audit: AuditWriter) -> int:
        """Render, number and plan the deliveries of the notices this transaction wrote.
        Called by the service just before the audit seal; returns how many."""
        waiting = _waiting(conn)
        if not waiting:
            return 0
        conn.info.pop(WAITING, None)
        # A savepoint rolled back (a failed timer step) may have taken some rows with it.
        ids = [entry[0]["id"] for entry in waiting]
        alive = set(conn.execute(select(NOTICE.c.id).where(NOTICE.c.id.in_(ids))).scalars())
        return self.materialize(conn, audit, [e for e in waiting if e[0]["id"] in alive])

    def materialize(self, conn: Connection, audit: AuditWriter, entries: list[tuple]) -> int:
        """Render written notices, number them and plan their deliveries; returns how many.

        Entries are (notice row, item, now, tz, calendar, actor). Everything is rendered with
        a placeholder for the number first, so a template that fails takes no number: that
        notice stays pending with the error and the others go on. Numbers are then taken in
        one statement per prefix and year, and put in place."""
        ready: list[tuple[dict, Document, list[str], list[dict], tuple | None, tuple]] = []
        for entry in entries:
            notice, item, now, tz, calendar, actor = entry
            try:
                document, series = self.compose(conn, notice, item, now, tz, calendar)
                bodies = [self.renderer.text(document), self.renderer.markdown(document),
                          self.renderer.html_page(document)]
                deliveries = self._deliveries(conn, notice, now, tz, calendar)
            except DubanError as err:
                log.warning("通知 %s 未能生成: %s", notice["key"], err.message)
                conn.execute(update(NOTICE).where(NOTICE.c.id == notice["id"]).values(
                    last_error=err.message[:800]))
                continue
            ready.append((notice, document, bodies, deliveries, series, entry))
        if not ready:
            return 0
        wanted = Counter(series for *_, series, _ in ready if series is not None)
        first = {series: numbers.take(conn, *series, count) for series, count in wanted.items()}
        rows, planned = [], []
        for notice, document, bodies, deliveries, series, entry in ready:
            number = None
            if series is not None:
                number = numbers.format_number(*series, first[series])
                first[series] += 1
            document = replace(document, doc_number=number)
            text, markdown, html = (body.replace(NUMBER_SLOT, number or "") for body in bodies)
            rows.append({"_id": notice["id"], "doc_number": number, "title": document.title[:400],
                         "document": document.as_json(), "body_text": text,
                         "body_markdown": markdown, "body_html": html,
                         "status": PENDING if deliveries else DEAD,
                         "last_error": None if deliveries else NO_CHANNEL})
            planned.extend(deliveries)
            now, actor = entry[2], entry[5]
            audit.append(at=now, actor=actor, action="notice", item_id=notice["item_id"],
                         event="created" if deliveries else DEAD,
                         reason=document.title if deliveries else NO_CHANNEL,
                         payload={"notice": notice["id"], "key": notice["key"],
                                  "kind": notice["kind"], "doc_number": number,
                                  "to": list(notice["recipients"]), "cc": list(notice["cc"]),
                                  "deliveries": [(d["channel"], d["target"])
                                                 for d in deliveries]})
        conn.execute(RENDERED, rows)
        if planned:
            conn.execute(insert(DELIVERY), planned)
        return len(rows)

    def compose(
        self,
        conn: Connection,
        notice: Mapping[str, Any],
        item: Mapping[str, Any] | None,
        now: datetime,
        tz: ZoneInfo,
        calendar: WorkCalendar,
    ) -> tuple[Document, tuple[str, int] | None]:
        """The notice as a document with a placeholder for its number, and the series
        (prefix, year) its number comes from, or None for an unnumbered note."""
        office = self.config.office
        ctx = context.build(conn, item, notice["payload"], notice["recipients"], notice["cc"],
                            now=now, tz=tz, calendar=calendar, office=office)
        body = self.renderer.body(notice["kind"], ctx)
        series = None
        if body.numbered:
            prefix = office.circular_prefix if notice["kind"] == "circular" else office.doc_prefix
            series = (prefix, now.astimezone(tz).year)
        default_recipient = ctx["item"]["lead_unit_name"] if item else "、".join(ctx["to_names"])
        document = Document(
            kind=notice["kind"], label=body.label, issuer=office.name,
            doc_number=NUMBER_SLOT if series else None,
            title=body.title, recipient=body.recipient or default_recipient,
            paragraphs=body.paragraphs, signature=office.signed_by, date=cn_date(now, tz),
            cc="、".join(ctx["cc_names"]),
            contact=f"{office.contact} {office.phone}".strip(),
            table=body.table, table_after=body.table_after,
        )
        return document, series

    def replan(self, conn: Connection, notice: Mapping[str, Any], item: Mapping[str, Any] | None,
               now: datetime, tz: ZoneInfo, calendar: WorkCalendar) -> int:
        """Plan deliveries again for a notice that had none (no channel or address then)."""
        deliveries = self._deliveries(conn, notice, now, tz, calendar)
        if deliveries:
            conn.execute(insert(DELIVERY), deliveries)
        return len(deliveries)

    def _deliveries(
        self,
        conn: Connection,
        notice: Mapping[str, Any],
        now: datetime,
        tz: ZoneInfo,
        calendar: WorkCalendar,
    ) -> list[dict[str, Any]]:
        units, people = context.directory(conn)
        key = notice["key"]
        planned: list[dict[str, Any]] = []

        def plan(channel: str, target: str, suffix: str, style: str | None = None,
                 at: datetime = now) -> None:
            planned.append({"notice_id": notice["id"], "channel": channel, "target": target,
                            "style": style, "key": f"{key}#{channel}{suffix}",
                            "status": PENDING, "attempts": 0, "next_attempt_at": at,
                            "lease_until": None, "last_error": None, "sent_at": None,
                            "created_at": now})

        for channel in self.config.channels:
            if channel == "file":
                plan("file", "", "")
            elif channel == "smtp":
                at = now
                if self.config.digest_at is not None:
                    at = digest_instant(now, tz, calendar, self.config.digest_at)
                for login in [*notice["recipients"], *notice["cc"]]:
                    person = people.get(login)
                    if person and person["email"]:
                        plan("smtp", formataddr((person["name"], person["email"])),
                             f":{person['email']}", at=at)
            elif channel == "webhook":
                seen: set[str] = set()
                for login in notice["recipients"]:
                    person = people.get(login)
                    unit = units.get(person["unit_code"] or "") if person else None
                    if unit and unit["webhook"] and unit["code"] not in seen:
                        seen.add(unit["code"])
                        plan("webhook", unit["webhook"], f":{unit['code']}",
                             unit["webhook_style"] or "json")
        return planned


WAITING = "duban_outbox_waiting"


def _waiting(conn: Connection) -> list[tuple]:
    """The notices written in the connection's current transaction, not yet rendered."""
    marker = conn.get_transaction()
    entry = conn.info.get(WAITING)
    if entry is None or entry[0] is not marker:
        entry = (marker, [])
        conn.info[WAITING] = entry
    return entry[1]


def digest_instant(now: datetime, tz: ZoneInfo, calendar: WorkCalendar, at: time) -> datetime:
    """When a recipient's merged mail of the working day goes out: today at ``at`` if that is
    still ahead on a working day, else at ``at`` on the next working day."""
    local = now.astimezone(tz)
    day = local.date()
    if not (calendar.is_workday(day) and local.time() < at):
        day = calendar.add_workdays(day, 1)
    return datetime.combine(day, at, tzinfo=tz)
