"""Notices as people look at them: lists, one notice with its deliveries, previews, requeue."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select, update

from duban.engine import items
from duban.engine.errors import InvalidInput, NotFound, Refused
from duban.engine.models import DELIVERY, NOTICE, Role
from duban.notifiers import numbers
from duban.notifiers.outbox import DEAD, FAILED, NO_CHANNEL, PENDING
from duban.notifiers.render import Document
from duban.notifiers.sender import summarize

if TYPE_CHECKING:
    from duban.engine.service import Service

STATUS_LABELS = {PENDING: "待发送", "sent": "已送达", FAILED: "失败待重试", DEAD: "无法送达"}
LIST_COLUMNS = (NOTICE.c.id, NOTICE.c.kind, NOTICE.c.doc_number, NOTICE.c.title,
                NOTICE.c.item_id, NOTICE.c.status, NOTICE.c.recipients, NOTICE.c.created_at,
                NOTICE.c.last_error)


def list_notices(
    conn: Connection,
    *,
    status: str | None = None,
    item_id: int | None = None,
    kind: str | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[dict[str, Any]]:
    query = select(*LIST_COLUMNS).order_by(NOTICE.c.id.desc()).limit(limit).offset(offset)
    if status is not None:
        if status not in STATUS_LABELS:
            raise InvalidInput(f"状态应为 {'、'.join(STATUS_LABELS)} 之一")
        query = query.where(NOTICE.c.status == status)
    if item_id is not None:
        query = query.where(NOTICE.c.item_id == item_id)
    if kind is not None:
        query = query.where(NOTICE.c.kind == kind)
    return [dict(row) for row in conn.execute(query).mappings()]


def counts(conn: Connection) -> dict[str, int]:
    rows = conn.execute(select(NOTICE.c.status, func.count()).group_by(NOTICE.c.status))
    return {status: count for status, count in rows}


def notice(conn: Connection, notice_id: int) -> dict[str, Any]:
    row = conn.execute(select(NOTICE).where(NOTICE.c.id == notice_id)).mappings().first()
    if row is None:
        raise NotFound(f"没有编号为 {notice_id} 的通知")
    found = dict(row)
    found["deliveries"] = [dict(d) for d in conn.execute(
        select(DELIVERY).where(DELIVERY.c.notice_id == notice_id)
        .order_by(DELIVERY.c.id)).mappings()]
    return found


def render_stored(service: Service, notice_id: int, fmt: str) -> str | bytes:
    """A written notice in one format: text, markdown, html or docx (bytes)."""
    with service.reading() as conn:
        found = notice(conn, notice_id)
    if found["document"] is None:
        why = found["last_error"] or "等待发送程序处理"
        raise InvalidInput(f"通知 {notice_id} 尚未生成正文: {why}")
    document = Document.from_json(found["document"])
    renderer = service.outbox.renderer
    if fmt == "docx":
        return renderer.docx(document)
    return renderer.render(document, fmt)


def preview(service: Service, item_id: int, kind: str, fmt: str) -> str | bytes:
    """What a notice of ``kind`` about an item would look like now; nothing is written and no
    document number is taken (the number shows blank)."""
    outbox = service.outbox
    if not outbox.renderer.has_kind(kind):
        raise InvalidInput(f"没有通知类型 {kind} 的模板 kinds/{kind}.j2")
    now = service.clock.now()
    with service.reading() as conn:
        item = items.load(conn, item_id)
        draft = {"id": 0, "key": "preview", "item_id": item_id, "kind": kind,
                 "recipients": [], "cc": [], "payload": {}}
        document, series = outbox.compose(conn, draft, item, now, service.tz,
                                          service.calendar_for(conn))
    if series is not None:  # a draft's number is left blank
        document = replace(document, doc_number=numbers.blank_number(*series))
    if fmt == "docx":
        return outbox.renderer.docx(document)
    return outbox.renderer.render(document, fmt)


def requeue(service: Service, actor: Any, notice_id: int) -> dict[str, Any]:
    """Send a failed or dead notice again (after the address or the server was fixed)."""

    def work(txn: Any) -> dict[str, Any]:
        if not (txn.actor.has(Role.supervisor) or txn.actor.has(Role.admin)):
            raise Refused(f"{txn.actor.name}无权重新发送通知: 只有督查员或管理员可以")
        found = notice(txn.conn, notice_id)
        if found["status"] not in (DEAD, FAILED):
            raise Refused(f"通知 {notice_id} 状态为{STATUS_LABELS.get(found['status'])}, "
                          "只有失败或无法送达的通知可以重新发送")
        again = [d["id"] for d in found["deliveries"] if d["status"] in (DEAD, FAILED)]
        if again:
            txn.conn.execute(update(DELIVERY).where(DELIVERY.c.id.in_(again)).values(
                status=PENDING, attempts=0, next_attempt_at=txn.now, lease_until=None))
        elif found["document"] is not None:
            item = items.load(txn.conn, found["item_id"]) if found["item_id"] else None
            if not txn.outbox.replan(txn.conn, found, item, txn.now, txn.tz, txn.calendar):
                raise Refused(f"通知 {notice_id} 仍{NO_CHANNEL}: 请先设置送达渠道或收件人地址")
        summarize(txn.conn, {notice_id})
        txn.audit.append(at=txn.now, actor=txn.actor.login, action="notice",
                         item_id=found["item_id"], event="requeued",
                         reason=found["title"],
                         payload={"notice": notice_id, "deliveries": again,
                                  "doc_number": found["doc_number"]})
        return notice(txn.conn, notice_id)

    return service._write(actor, "requeue_notice", work)
