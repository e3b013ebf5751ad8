"""Notices as documents people open: a stored notice in any format, a preview, a requeue.

Each runs through the service as the acting person; the outbox renders.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from duban.engine import items, notices
from duban.engine.errors import InvalidInput, Refused
from duban.engine.models import DeliveryStatus, Role
from duban.engine.service import Service
from duban.engine.sessions import ActorRef
from duban.engine.txn import Txn
from duban.notifiers import deliveries, numbers
from duban.notifiers.outbox import NO_CHANNEL, outbox_of
from duban.notifiers.render import Document

FORMATS = ("text", "markdown", "html", "docx", "pdf")
RETRYABLE = (DeliveryStatus.dead.value, DeliveryStatus.failed.value)


def render_stored(service: Service, actor: ActorRef, notice_id: int, fmt: str) -> str | bytes:
    """A written notice in one format: text, markdown, html or docx (bytes)."""
    found = service.notice(actor, notice_id)
    if found["document"] is None:
        why = found["last_error"] or "等待发送程序处理"
        raise InvalidInput(f"通知 {notice_id} 尚未生成正文: {why}")
    return _render(service, Document.from_json(found["document"]), fmt)


def preview(service: Service, actor: ActorRef, item_id: int, kind: str,
            fmt: str) -> str | bytes:
    """What a notice of ``kind`` about an item would look like now; nothing is written and no
    document number is taken (the number shows blank)."""
    outbox = outbox_of(service)
    if not outbox.renderer.has_kind(kind):
        raise InvalidInput(f"没有通知类型 {kind} 的模板 kinds/{kind}.j2")
    with service.reading(actor, "notice_preview", item_id) as txn:
        item = items.load(txn, item_id)
        draft = {"id": 0, "key": "preview", "item_id": item_id, "kind": kind,
                 "recipients": [], "cc": [], "payload": {}}
        document, series = outbox.compose(txn, draft, item)
    if series is not None:  # a draft's number is left blank
        document = replace(document, doc_number=numbers.blank_number(*series))
    return _render(service, document, fmt)


def _render(service: Service, document: Document, fmt: str) -> str | bytes:
    renderer = outbox_of(service).renderer
    if fmt == "docx":
        return renderer.docx(document)
    if fmt == "pdf":
        from duban.notifiers.pdf import html_to_pdf

        return html_to_pdf(renderer.render(document, "html"))
    return renderer.render(document, fmt)


def requeue(service: Service, actor: ActorRef, notice_id: int) -> dict[str, Any]:
    """Send a failed or dead notice again (after the address or the server was fixed)."""
    outbox = outbox_of(service)
    with service.transaction(actor, "requeue_notice") as txn:
        return _requeue(txn, outbox, notice_id)


def _requeue(txn: Txn, outbox: Any, notice_id: int) -> dict[str, Any]:
    if not (txn.actor.has(Role.supervisor) or txn.actor.has(Role.admin)):
        raise Refused(f"{txn.actor.name}无权重新发送通知: 只有督查员或管理员可以")
    found = notices.notice(txn, notice_id)
    if found["status"] not in RETRYABLE:
        label = notices.STATUS_LABELS.get(DeliveryStatus(found["status"]))
        raise Refused(f"通知 {notice_id} 状态为{label}, 只有失败或无法送达的通知可以重新发送")
    again = [d["id"] for d in found["deliveries"] if d["status"] in RETRYABLE]
    if again:
        deliveries.retry(txn, again)
    elif found["document"] is not None:
        planned = outbox.plan_deliveries(txn, found)
        if not planned:
            raise Refused(f"通知 {notice_id} 仍{NO_CHANNEL}: 请先设置送达渠道或收件人地址")
        deliveries.add(txn, planned)
    deliveries.summarize(txn, {notice_id})
    txn.audit.append(at=txn.now, actor=txn.actor.login, action="notice",
                     item_id=found["item_id"], event="requeued", reason=found["title"],
                     payload={"notice": notice_id, "deliveries": again,
                              "doc_number": found["doc_number"]})
    return notices.notice(txn, notice_id)
