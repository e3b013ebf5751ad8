"""Delivery channels: the outbox folder, SMTP mail, group-robot webhooks.

Each implements :class:`duban.engine.ports.Channel`; :func:`build` makes the one a setting
names. A channel is built when the sender first needs it, so mail's libraries load only when
mail is sent.
"""

from __future__ import annotations

from duban.engine.ports import Channel, Permanent
from duban.notifiers.config import NoticeConfig
from duban.notifiers.render import Renderer


def build(name: str, config: NoticeConfig, renderer: Renderer) -> Channel:
    """The channel ``name`` as the settings describe it; a bad setting is permanent."""
    if name == "file":
        from duban.notifiers.channels.file import FileChannel

        return FileChannel(config.outbox, renderer, config.attach_docx)
    if name == "smtp":
        if not config.smtp.configured:
            raise Permanent("未设置邮件服务器 [smtp] host 与 sender")
        from duban.notifiers.channels.smtp import SmtpChannel

        return SmtpChannel(config.smtp, renderer, config.attach_docx)
    if name == "webhook":
        from duban.notifiers.channels.webhook import WebhookChannel

        return WebhookChannel(config.webhook_timeout)
    raise Permanent(f"未知渠道 {name}")
