"""Where the engine meets the outside: the contracts its adapters fulfil.

The engine decides and records; it does not know how a notice becomes a document, how it
travels, or where a file is kept. Each of those is a port here, implemented elsewhere
(``duban.notifiers`` implements the notice sink and the channels) and handed to the service
when a program assembles it (``duban.app``). Nothing in the engine imports an implementation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO, Protocol

from duban.engine.txn import Txn, WrittenNotice


class Clock(Protocol):
    """Where the engine reads the time. Logic never asks the system for it: a test or a
    replay (``--now``) sets the clock and every decision follows."""

    def now(self) -> datetime:
        """The current instant, timezone-aware."""


class NoticeSink(Protocol):
    """Turns the notices a write transaction wrote into documents, in that transaction.

    The contract:

    - The engine writes each notice row itself, once per key: a second request with the same
      key, in the same transaction or any later one, writes nothing and never reaches the sink.
      A timer step or an event therefore notifies once.
    - Just before the audit seal the service calls :meth:`flush` once with the notices the
      transaction wrote (those a rolled-back savepoint took with it are already gone). The sink
      renders and numbers them and plans their deliveries on ``txn.conn``, appending its own
      audit events to ``txn.audit``: all of it commits or rolls back with the event that caused
      it, so a notice is never numbered twice nor lost.
    - A notice the sink cannot render must not fail the transaction: it stays without a
      document, with the reason, to be rendered later.
    """

    def flush(self, txn: Txn, written: Sequence[WrittenNotice]) -> None:
        """Render, number and plan the deliveries of ``written``."""

    def render_committed(self, txn: Txn, written: Sequence[WrittenNotice]) -> int:
        """The same, for notices an earlier transaction committed without their documents
        (the ticker's): from the item each carries, skipping those rendered meanwhile."""


@dataclass(frozen=True)
class Outgoing:
    """One delivery: a rendered notice to one channel and address."""

    delivery_id: int
    key: str  # what the receiving end deduplicates on
    channel: str
    target: str
    style: str | None
    notice: dict[str, Any]
    interrupted: bool = False  # an earlier attempt began and left no result: may have arrived
    lease: datetime | None = None  # until when this sender holds it (the claim's lease)

    @property
    def subject(self) -> str:
        number = self.notice.get("doc_number")
        return f"{self.notice['title']}（{number}）" if number else self.notice["title"]


class DeliveryError(Exception):
    """A channel could not deliver; the sender records the message with the attempt."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Transient(DeliveryError):
    """Worth another attempt: a timeout, a 5xx answer, a refused connection."""


class Permanent(DeliveryError):
    """Not worth another attempt: a 4xx answer, a rejected address, a bad setting."""


class Channel(Protocol):
    """A way to deliver notices: the outbox folder, mail, a group robot.

    The contract: :meth:`send` delivers one message at least once and carries ``message.key``
    so that the receiving end can drop a repeat (the file name, the Message-ID, the
    Idempotency-Key); it returns a short note for the record, or raises :class:`Transient`
    when trying later may help and :class:`Permanent` when it will not. :meth:`commit` makes
    what was sent durable before the sender records it as delivered; :meth:`close` releases
    connections. A channel never touches the database.
    """

    def send(self, message: Outgoing) -> str: ...

    def commit(self) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class StoredFile:
    """A file as the store keeps it: by the SHA-256 of its content."""

    sha256: str
    size: int


class FileStore(Protocol):
    """Where evidence files are kept, by their content.

    The contract: :meth:`put` reads the whole stream, writes it under a temporary name, syncs
    it and renames it into place before returning, so a file is either complete under its hash
    or absent; the same content put twice is stored once. Files are never changed or removed.
    :meth:`open` gives a stored file back; :meth:`check` says whether it is present and still
    has its hash.
    """

    def put(self, source: BinaryIO, *, max_bytes: int) -> StoredFile: ...

    def open(self, sha256: str) -> BinaryIO: ...

    def check(self, sha256: str) -> bool: ...
