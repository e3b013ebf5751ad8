"""Delivery channels: the outbox folder, SMTP mail, group-robot webhooks.

A channel sends one :class:`Outgoing` (or, for mail digests, several to one address) and
raises :class:`Transient` when trying again later may help, :class:`Permanent` when it will
not. Each send carries the delivery's key so that the receiving end can drop a repeat.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class DeliveryError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Transient(DeliveryError):
    """Worth another attempt: a timeout, a 5xx answer, a refused connection."""


class Permanent(DeliveryError):
    """Not worth another attempt: a 4xx answer, a rejected address, a bad setting."""


@dataclass(frozen=True)
class Outgoing:
    """One delivery with the notice it carries."""

    delivery_id: int
    key: str
    channel: str
    target: str
    style: str | None
    notice: dict[str, Any]

    @property
    def subject(self) -> str:
        number = self.notice.get("doc_number")
        return f"{self.notice['title']}（{number}）" if number else self.notice["title"]
