"""The service's part about evidence (佐证材料): files received, kept with the event that
cites them, listed, fetched and checked (see :class:`duban.engine.service.Service`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from typing import Any, BinaryIO

from duban.engine import evidence, items, visibility
from duban.engine.errors import InvalidInput
from duban.engine.evidence_store import FileStore, Incoming
from duban.engine.sessions import ActorRef, Sessions

# A file as a client hands it over: the name it was given, and its content to read.
Attachment = tuple[str, BinaryIO]


class EvidenceService(Sessions):
    """Evidence: attached with an event (``Service.fire(attachments=…)``) or afterwards."""

    @cached_property
    def evidence_config(self) -> evidence.EvidenceConfig:
        return evidence.evidence_config(self.settings)

    @cached_property
    def evidence_store(self) -> FileStore:
        return FileStore(self.evidence_config.folder)

    @contextmanager
    def received(self, attachments: Sequence[Attachment]) -> Iterator[Incoming | None]:
        """The files taken in (refused as a whole, with the file named, before anything is
        written); kept only by the transaction that calls ``keep``, else discarded."""
        if not attachments:
            yield None
            return
        incoming = self.evidence_store.receive(attachments, self.evidence_config.limits)
        try:
            yield incoming
        finally:
            incoming.discard()

    def add_evidence(self, actor: ActorRef, item_id: int, attachments: Sequence[Attachment],
                     note: str = "") -> list[dict[str, Any]]:
        """补充材料: files added to an item outside its events."""
        if not attachments:
            raise InvalidInput("请至少附一个文件")
        with self.received(attachments) as incoming, \
                self.transaction(actor, "evidence_add", item_id) as txn:
            item = items.load(txn, item_id, for_update=True)
            added = evidence.add(txn, item, incoming.files, note)
            incoming.keep()
            return added

    def withdraw_evidence(self, actor: ActorRef, evidence_id: int,
                          reason: str) -> dict[str, Any]:
        with self.transaction(actor, "evidence_withdraw") as txn:
            return evidence.withdraw(txn, evidence_id, reason)

    def evidence_of(self, actor: ActorRef, item_id: int, *,
                    withdrawn: bool = False) -> list[dict[str, Any]]:
        """The item's files, with the same read permission as the item."""
        with self.reading(actor, "evidence_list", item_id) as txn:
            item = items.load(txn, item_id)
            workflow = txn.registry.get(item["workflow"], item["workflow_version"])
            return [evidence.described(row, workflow, txn.directory.people)
                    for row in evidence.of_item(txn, item_id, withdrawn=withdrawn)]

    def evidence_file(self, actor: ActorRef, evidence_id: int) -> tuple[dict[str, Any], BinaryIO]:
        """One file's row and its content, open for reading (the caller closes it)."""
        with self.reading(actor, "evidence_get") as txn:
            row = evidence.one(txn, evidence_id)
        return row, self.evidence_store.open(row["sha256"])

    def verify_files(self, actor: ActorRef | None = None) -> evidence.FilesReport:
        """Every file the audit record cites is in the store with its hash."""
        with self._reading_as(actor, "audit_verify") as txn:
            visibility.require_record_keeper(txn)
            return evidence.verify_files(txn.conn, self.evidence_store)
