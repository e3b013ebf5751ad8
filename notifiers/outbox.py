"""The outbox: a notice is written in the transaction of the event or step that caused it.

The row carries the rendered document (with its number, taken in the same transaction) and
one delivery per channel and address. If the admin's template cannot be rendered, the event
still happens: the notice waits unrendered with the error, and the sender renders it once the
template is fixed (also notices written before this part existed).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, time
from email.utils import formataddr
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from engine.errors import Conflict, DubanError
from engine.models import DELIVERY, NOTICE
from engine.workcalendar import WorkCalendar
from notifiers import context, numbers
from notifiers.config import NoticeConfig
from notifiers.render import Document, Renderer, cn_date

if TYPE_CHECKING:
    from engine.audit import AuditWriter

log = logging.getLogger("duban.outbox")
PENDING, SENT, FAILED, DEAD = "pending", "sent", "failed", "dead"
NO_CHANNEL = "没有可用的送达渠道或地址"

NOTICE_ID_BY_KEY = select(NOTICE.c.id).where(NOTICE.c.key == bindparam("key"))
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
        if conn.execute(NOTICE_ID_BY_KEY, {"key": key}).first() is not None:
            return None
        cc = [login for login in cc if login not in to]  # nobody gets the same notice twice
        row = {"key": key, "item_id": item["id"] if item else None, "kind": kind,
               "recipients": list(to), "cc": cc, "payload": dict(payload),
               "status": PENDING, "created_at": now}
        try:
            notice_id = conn.execute(insert(NOTICE).returning(NOTICE.c.id), row).scalar_one()
        except IntegrityError:
            raise Conflict(f"通知 {key} 已由另一进程同时写入, 请重试") from None
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
        done = 0
        for notice, item, now, tz, calendar, actor in waiting:
            if notice["id"] in alive:
                done += self.materialize(conn, audit, notice, item, now, tz, calendar, actor)
        return done

    def materialize(
        self,
        conn: Connection,
        audit: AuditWriter,
        notice: Mapping[str, Any],
        item: Mapping[str, Any] | None,
        now: datetime,
        tz: ZoneInfo,
        calendar: WorkCalendar,
        actor: str,
    ) -> bool:
        """Render and number a written notice and plan its deliveries. False when its
        template failed: the notice stays pending with the error, the caller goes on."""
        try:
            with conn.begin_nested():  # a failed render gives its document number back
                document = self.document(conn, notice, item, now, tz, calendar)
                deliveries = self._deliveries(conn, notice, document, now, tz, calendar)
                status = PENDING if deliveries else DEAD
                conn.execute(RENDERED, {
                    "_id": notice["id"], "doc_number": document.doc_number,
                    "title": document.title[:400], "document": document.as_json(),
                    "body_text": self.renderer.text(document),
                    "body_markdown": self.renderer.markdown(document),
                    "body_html": self.renderer.html_page(document),
                    "status": status, "last_error": None if deliveries else NO_CHANNEL,
                })
                if deliveries:
                    conn.execute(insert(DELIVERY), deliveries)
        except DubanError as err:
            log.warning("通知 %s 未能生成: %s", notice["key"], err.message)
            conn.execute(update(NOTICE).where(NOTICE.c.id == notice["id"]).values(
                last_error=err.message[:800]))
            return False
        audit.append(at=now, actor=actor, action="notice", item_id=notice["item_id"],
                     event="created" if deliveries else DEAD,
                     reason=document.title if deliveries else NO_CHANNEL,
                     payload={"notice": notice["id"], "key": notice["key"],
                              "kind": notice["kind"], "doc_number": document.doc_number,
                              "to": list(notice["recipients"]), "cc": list(notice["cc"]),
                              "deliveries": [(d["channel"], d["target"]) for d in deliveries]})
        return True

    def document(
        self,
        conn: Connection,
        notice: Mapping[str, Any],
        item: Mapping[str, Any] | None,
        now: datetime,
        tz: ZoneInfo,
        calendar: WorkCalendar,
        *,
        take_number: bool = True,
    ) -> Document:
        """The notice as a document; ``take_number=False`` for a preview (number left blank)."""
        office = self.config.office
        ctx = context.build(conn, item, notice["payload"], notice["recipients"], notice["cc"],
                            now=now, tz=tz, calendar=calendar, office=office)
        body = self.renderer.body(notice["kind"], ctx)
        number = None
        if body.numbered:
            prefix = office.circular_prefix if notice["kind"] == "circular" else office.doc_prefix
            year = now.astimezone(tz).year
            if take_number:
                number = numbers.format_number(prefix, year,
                                               numbers.next_number(conn, prefix, year))
            else:
                number = numbers.blank_number(prefix, year)
        default_recipient = ctx["item"]["lead_unit_name"] if item else "、".join(ctx["to_names"])
        return Document(
            kind=notice["kind"], label=body.label, issuer=office.name, doc_number=number,
            title=body.title, recipient=body.recipient or default_recipient,
            paragraphs=body.paragraphs, signature=office.signed_by, date=cn_date(now, tz),
            cc="、".join(ctx["cc_names"]),
            contact=f"{office.contact} {office.phone}".strip(),
            table=body.table, table_after=body.table_after,
        )

    def replan(self, conn: Connection, notice: Mapping[str, Any], item: Mapping[str, Any] | None,
               now: datetime, tz: ZoneInfo, calendar: WorkCalendar) -> int:
        """Plan deliveries again for a notice that had none (no channel or address then)."""
        document = Document.from_json(notice["document"])
        deliveries = self._deliveries(conn, notice, document, now, tz, calendar)
        if deliveries:
            conn.execute(insert(DELIVERY), deliveries)
        return len(deliveries)

    def _deliveries(
        self,
        conn: Connection,
        notice: Mapping[str, Any],
        document: Document,
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
