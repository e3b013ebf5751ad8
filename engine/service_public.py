"""The service's part about what is published (阳光督办, 双随机一公开): the board's content,
the office's public notes and files, and the random draws (see
:class:`duban.engine.service.Service`)."""

from __future__ import annotations

from typing import Any

from duban.engine import board, draws
from duban.engine.sessions import ActorRef, Sessions


class PublicService(Sessions):
    def draw(self, actor: ActorRef, spec: draws.DrawSpec) -> dict[str, Any]:
        with self.transaction(actor, "draw") as txn:
            return draws.draw(txn, spec)

    def draws(self, actor: ActorRef, campaign: str | None = None) -> list[dict[str, Any]]:
        """The draws recorded: public, so every signed-in person may read them."""
        with self.reading(actor, "draws") as txn:
            return draws.draws(txn, campaign)

    def publish_note(self, actor: ActorRef, item_id: int, text: str) -> dict[str, Any]:
        with self.transaction(actor, "board_note", item_id) as txn:
            return board.publish_note(txn, item_id, text)

    def publish_evidence(self, actor: ActorRef, evidence_id: int) -> dict[str, Any]:
        with self.transaction(actor, "evidence_publish") as txn:
            return board.publish_evidence(txn, evidence_id)

    def board(self, actor: ActorRef | None = None) -> board.Board:
        """What the public board shows now (the office; ``None``: the engine itself)."""
        with self._reading_as(actor, "board") as txn:
            return board.read_board(txn)
