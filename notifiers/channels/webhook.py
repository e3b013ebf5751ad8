"""Webhooks: plain JSON, or the markdown messages of WeCom and DingTalk group robots.

Every POST carries an ``Idempotency-Key`` header (the delivery key). 2xx is delivered; 408,
425, 429 and 5xx answers, timeouts and refused connections are worth retrying; any other 4xx
is not. Robots answer 200 with an ``errcode``: their rate limits are retried, other codes not.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from duban.engine.ports import Outgoing, Permanent, Transient
from duban.engine.validation import shown

STYLES = ("json", "wecom", "dingtalk")
RETRY_STATUS = {408, 425, 429}
ROBOT_RATE_LIMITS = {45009, 130101}  # WeCom, DingTalk: "too many messages, slow down"
WECOM_LIMIT = 4096  # bytes of markdown a WeCom robot accepts


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A 3xx is an answer, not a receipt: followed, a POST would become a GET somewhere else
    (another scheme even) and a moved robot's page would be taken for delivery."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


OPENER = urllib.request.build_opener(_NoRedirect)


def body(message: Outgoing) -> dict[str, Any]:
    notice = message.notice
    markdown = notice["body_markdown"]
    if message.style == "wecom":
        return {"msgtype": "markdown", "markdown": {"content": _cut(markdown, WECOM_LIMIT)}}
    if message.style == "dingtalk":
        return {"msgtype": "markdown", "markdown": {"title": notice["title"], "text": markdown}}
    return {"key": message.key, "kind": notice["kind"], "doc_number": notice["doc_number"],
            "title": notice["title"], "item_id": notice["item_id"], "to": notice["recipients"],
            "cc": notice["cc"], "text": notice["body_text"], "markdown": markdown}


class WebhookChannel:
    """Group robots and JSON endpoints (:class:`duban.engine.ports.Channel`)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout

    def commit(self) -> None:
        """A webhook's answer is its receipt: nothing to make durable here."""

    def close(self) -> None:
        """Each POST opens and closes its own connection."""

    def send(self, message: Outgoing) -> str:
        if not message.target.startswith(("http://", "https://")):  # never file: or ftp:
            raise Permanent(f"Webhook 地址无效, 未发送: {shown(message.target)}")
        data = json.dumps(body(message), ensure_ascii=False).encode()
        request = urllib.request.Request(
            message.target, data=data, method="POST",
            headers={"Content-Type": "application/json; charset=utf-8",
                     "Idempotency-Key": message.key, "User-Agent": "duban"})
        try:
            with OPENER.open(request, timeout=self.timeout) as response:
                answer = response.read(65536)
                status = response.status
        except urllib.error.HTTPError as err:
            err.close()  # the error carries the open response
            text = f"HTTP {err.code} {err.reason}"
            if err.code in RETRY_STATUS or err.code >= 500:
                raise Transient(text) from None
            raise Permanent(text) from None
        except (urllib.error.URLError, TimeoutError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise Transient(f"连接失败: {reason}") from None
        except ValueError as err:  # a malformed URL
            raise Permanent(f"地址无效: {err}") from None
        self._check_robot(message, answer)
        return f"HTTP {status}"

    def _check_robot(self, message: Outgoing, answer: bytes) -> None:
        if message.style not in ("wecom", "dingtalk"):
            return
        try:
            reply = json.loads(answer or b"{}")
        except ValueError:
            return
        code = reply.get("errcode", 0) if isinstance(reply, dict) else 0
        if code:
            text = f"机器人答复 errcode {code} {reply.get('errmsg', '')}".strip()
            raise (Transient if code in ROBOT_RATE_LIMITS else Permanent)(text)


def _cut(text: str, limit: int) -> str:
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[: limit - 12].decode(errors="ignore") + "\n\n（全文见附件）"
