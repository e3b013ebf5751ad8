"""Mail: one message per recipient, or one digest of a working day's notices.

The Message-ID is derived from the delivery key, so a message sent again after a crash is
the same message to any mail system that deduplicates. The HTML (and, if configured, the
.docx) travel as attachments of the plain-text body.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
import unicodedata
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, getaddresses

from duban.engine.ports import Outgoing, Permanent, Transient
from duban.engine.validation import EMAIL_PATTERN, INVISIBLE, shown
from duban.notifiers.config import Smtp
from duban.notifiers.render import Document, Renderer

DOCX_TYPE = ("application", "vnd.openxmlformats-officedocument.wordprocessingml.document")


def message_id(key: str, sender: str) -> str:
    domain = sender.rsplit("@", 1)[-1].strip("> ") or "duban.local"
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


class SmtpChannel:
    """Mail (:class:`duban.engine.ports.Channel`, and digests of several notices). Keeps one
    connection open for a batch; ``close`` ends it."""

    def __init__(self, config: Smtp, renderer: Renderer, with_docx: bool) -> None:
        self.config = config
        self.renderer = renderer
        self.with_docx = with_docx
        self._client: smtplib.SMTP | None = None

    def send(self, message: Outgoing) -> str:
        check_target(message.target)
        mail = self._mail(message.target, message.subject, message.key)
        notice = message.notice
        mail.set_content(notice["body_text"])
        self._attach(mail, notice, 1)
        self._submit(mail, message.target)
        return f"已发送至 {message.target}"

    def send_digest(self, messages: Sequence[Outgoing], day: str) -> str:
        """Several notices to one address as one mail (防止增加基层负担)."""
        target = messages[0].target
        check_target(target)
        key = "digest:" + "|".join(sorted(m.key for m in messages))
        mail = self._mail(target, f"督办通知汇总（{day}，共{len(messages)}件）", key)
        parts = [f"今日共有{len(messages)}件督办通知，正文如下，原件见附件。"]
        for index, message in enumerate(messages, 1):
            parts.append(f"━━ {index}. {message.subject} ━━\n\n{message.notice['body_text']}")
        mail.set_content("\n\n".join(parts))
        for index, message in enumerate(messages, 1):
            self._attach(mail, message.notice, index)
        self._submit(mail, target)
        return f"汇总{len(messages)}件已发送至 {target}"

    def commit(self) -> None:
        """The server's acceptance of each message is its receipt."""

    def close(self) -> None:
        if self._client is not None:
            try:
                self._client.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self._client = None

    def _mail(self, target: str, subject: str, key: str) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self.config.sender
        mail["To"] = target
        mail["Subject"] = subject
        mail["Date"] = formatdate(localtime=True)
        mail["Message-ID"] = message_id(key, self.config.sender)
        mail["X-Duban-Key"] = key
        return mail

    def _attach(self, mail: EmailMessage, notice: dict, index: int) -> None:
        stem = f"{index:02d}-{notice['doc_number'] or notice['kind']}"
        mail.add_attachment(notice["body_html"], subtype="html", charset="utf-8",
                            filename=f"{stem}.html")
        if self.with_docx:
            data = self.renderer.docx(Document.from_json(notice["document"]))
            mail.add_attachment(data, maintype=DOCX_TYPE[0], subtype=DOCX_TYPE[1],
                                filename=f"{stem}.docx")

    def _submit(self, mail: EmailMessage, target: str) -> None:
        try:
            client = self._connect()
            client.send_message(mail)
        except smtplib.SMTPRecipientsRefused as err:
            self.close()
            raise Permanent(f"收件地址被拒绝: {target} {_codes(err.recipients)}") from None
        except smtplib.SMTPResponseException as err:
            self.close()
            reason = err.smtp_error.decode(errors="replace") if isinstance(
                err.smtp_error, bytes) else str(err.smtp_error)
            text = f"邮件服务器答复 {err.smtp_code} {reason}"
            if 500 <= err.smtp_code < 600:
                raise Permanent(text) from None
            raise Transient(text) from None
        except (TimeoutError, smtplib.SMTPException, OSError) as err:
            self.close()
            raise Transient(f"邮件服务器连接失败: {err}") from None

    def _connect(self) -> smtplib.SMTP:
        if self._client is not None:
            return self._client
        config = self.config
        context = ssl.create_default_context(cafile=config.cafile or None)
        port = config.effective_port
        if config.security == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(config.host, port, timeout=config.timeout,
                                                    context=context)
        else:
            client = smtplib.SMTP(config.host, port, timeout=config.timeout)
            if config.security == "starttls":
                client.starttls(context=context)
        if config.user:
            client.login(config.user, config.password)
        self._client = client
        return client


def check_target(target: str) -> None:
    """One recipient, written as the outbox writes it (name <address>): anything else in a
    delivery row would let a header or a second recipient through, so it is never sent."""
    found = getaddresses([target])
    printable = all(unicodedata.category(char) not in INVISIBLE for char in target)
    if not printable or len(found) != 1 or not EMAIL_PATTERN.match(found[0][1]):
        raise Permanent(f"收件地址无效, 未发送: {shown(target)}")


def _codes(recipients: dict) -> str:
    return "; ".join(f"{code} {msg.decode(errors='replace') if isinstance(msg, bytes) else msg}"
                     for code, msg in recipients.values())
