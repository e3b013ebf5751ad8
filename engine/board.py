"""阳光督办: what of the record may be published, decided here and nowhere else.

Only items marked public appear, and of them only: number, title, lead unit (never a person
below unit level), source, deadline, state, colour, the closing date, the progress notes the
office wrote for the public (``board_note`` events) and the evidence it marked public. Never
internal documents, people's names or logins, reasons of warnings or interviews, nor any other
evidence. The board's generation is the audit record's head: a site built at one generation
is current until the next event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from duban.engine import draws as draws_
from duban.engine import evidence
from duban.engine.errors import Refused
from duban.engine.items import load
from duban.engine.ledger import colour, workdays_left
from duban.engine.models import AUDIT_EVENT, EVIDENCE, ITEM, SOURCE_LABELS, Role
from duban.engine.txn import ReadTxn, Txn
from duban.engine.validation import clean_text

MAX_NOTE = 1000


@dataclass(frozen=True)
class BoardItem:
    id: int
    title: str
    unit: str  # the lead unit's name
    source: str
    deadline: datetime
    state: str
    finished: bool
    colour: str
    closed_at: datetime | None
    notes: tuple[tuple[datetime, str], ...]
    evidence: tuple[dict[str, Any], ...]  # id, sha256, name, media_type, size


@dataclass(frozen=True)
class Board:
    generation: int  # the audit head it was read at
    built_at: datetime
    items: tuple[BoardItem, ...]
    draws: tuple[dict[str, Any], ...] = field(default_factory=tuple)


def require_office(txn: ReadTxn, what: str) -> None:
    if not txn.actor.has(Role.supervisor) and not txn.actor.has(Role.admin):
        raise Refused(f"{txn.actor.name}无权{what}: 只有督查员或管理员可以")


def publish_note(txn: Txn, item_id: int, text: str) -> dict[str, Any]:
    """A progress note written by the office for the public (公开进展)."""
    require_office(txn, "发布公开进展")
    item = load(txn, item_id)
    if not item["public"]:
        raise Refused(f"事项 {item_id} 未设为公开(阳光督办), 不能发布公开进展")
    note = clean_text(text, "公开进展", max_length=MAX_NOTE, required=True, multiline=True)
    txn.audit.append(at=txn.now, actor=txn.actor.login, action="board_note", item_id=item_id,
                     payload={"note": note})
    return {"item_id": item_id, "note": note, "at": txn.now}


def publish_evidence(txn: Txn, evidence_id: int) -> dict[str, Any]:
    """Mark one file of a public item public (a photo of the rectified site, a notice)."""
    require_office(txn, "公开佐证材料")
    row = evidence.one(txn, evidence_id)
    item = load(txn, row["item_id"])
    if not item["public"]:
        raise Refused(f"佐证材料 {evidence_id} 所属事项 {item['id']} 未设为公开")
    if row["withdrawn_at"] is not None:
        raise Refused(f"佐证材料 {evidence_id} 已撤回, 不能公开")
    if row["public"]:
        raise Refused(f"佐证材料 {evidence_id} 已公开")
    txn.conn.execute(update(EVIDENCE).where(EVIDENCE.c.id == evidence_id).values(public=True))
    txn.audit.append(at=txn.now, actor=txn.actor.login, action="evidence_published",
                     item_id=item["id"], payload={"evidence": {
                         "id": evidence_id, "sha256": row["sha256"], "name": row["name"]}})
    return {**row, "public": True}


def read_board(txn: ReadTxn) -> Board:
    """Everything the public board shows, in one snapshot."""
    require_office(txn, "生成公开页面")
    generation = txn.conn.execute(select(func.coalesce(func.max(AUDIT_EVENT.c.seq), 0))
                                  ).scalar_one()
    rows = [dict(r) for r in txn.conn.execute(
        select(ITEM).where(ITEM.c.public.is_(True)).order_by(ITEM.c.id)).mappings()]
    ids = [row["id"] for row in rows]
    notes: dict[int, list[tuple[datetime, str]]] = {}
    files: dict[int, list[dict[str, Any]]] = {}
    if ids:
        for item_id, at, payload in txn.conn.execute(
                select(AUDIT_EVENT.c.item_id, AUDIT_EVENT.c.at, AUDIT_EVENT.c.payload)
                .where(AUDIT_EVENT.c.action == "board_note", AUDIT_EVENT.c.item_id.in_(ids))
                .order_by(AUDIT_EVENT.c.seq)):
            notes.setdefault(item_id, []).append((at, str(payload.get("note", ""))))
        for row in txn.conn.execute(
                select(EVIDENCE.c.id, EVIDENCE.c.item_id, EVIDENCE.c.sha256, EVIDENCE.c.name,
                       EVIDENCE.c.media_type, EVIDENCE.c.size)
                .where(EVIDENCE.c.item_id.in_(ids), EVIDENCE.c.public.is_(True),
                       EVIDENCE.c.withdrawn_at.is_(None)).order_by(EVIDENCE.c.id)).mappings():
            files.setdefault(row["item_id"], []).append(dict(row))
    units = txn.directory.units
    shown = []
    for row in rows:
        workflow = txn.registry.get(row["workflow"], row["workflow_version"])
        state = workflow.state(row["state"])
        left = workdays_left(txn.calendar, txn.now.astimezone(txn.tz).date(),
                             row["current_deadline"].astimezone(txn.tz).date())
        shown.append(BoardItem(
            id=row["id"], title=row["title"],
            unit=units[row["lead_unit"]]["name"] if row["lead_unit"] in units
            else row["lead_unit"],
            source=SOURCE_LABELS.get(row["source"], row["source"]),
            deadline=row["current_deadline"], state=state.label, finished=state.finished,
            colour=colour(row, state.finished, left, workflow.yellow_workdays, txn.now),
            closed_at=row["state_since"] if state.final else None,
            notes=tuple(notes.get(row["id"], ())), evidence=tuple(files.get(row["id"], ()))))
    public_draws = tuple({key: d[key] for key in (
        "campaign", "seed", "units", "inspectors", "unit_pool", "procedure", "at")}
        | {"result": [{"unit": r["unit"], "unit_name": r["unit_name"]} for r in d["result"]]}
        for d in draws_.draws(txn))
    return Board(generation, txn.now, tuple(shown), public_draws)

