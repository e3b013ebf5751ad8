"""Evidence (佐证材料) in an item's record: files cited by the events that brought them.

Each file's hash, size, type and name are in the audit payload of its event (an event of the
item's workflow, ``evidence_added`` for 补充材料), so the chain proves what was attached;
the ``evidence`` rows index them for views. Withdrawing a file (``evidence_withdrawn``) hides
it from views and keeps everything: the row, the event and the stored file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Text, cast, func, insert, select, update

from duban.engine import visibility
from duban.engine.access import roles_on_item
from duban.engine.errors import InvalidInput, NotFound, NotVisible, Refused, SetupError
from duban.engine.evidence_store import FileStore, Limits, StoredFile
from duban.engine.filetypes import LABELS
from duban.engine.models import AUDIT_EVENT, EVIDENCE, ITEM, Role
from duban.engine.settings import Settings
from duban.engine.txn import ReadTxn, Txn
from duban.engine.workflow import Workflow

# Who may add 补充材料 to an item: the people who work on it and the office; readers only
# (inspectors, evaluators) may not.
CONTRIBUTORS = frozenset({Role.handler, Role.unit_head, Role.co_unit, Role.liaison,
                          Role.lead_leader, Role.supervisor})
DEFAULT_MAX_FILE_MB = 50
DEFAULT_MAX_FILES = 20
MAX_NOTE = 400
PARALLEL_FROM_BYTES = 1 << 20  # files this large on average are hashed on several threads


@dataclass(frozen=True)
class EvidenceConfig:
    folder: Path
    limits: Limits


def evidence_config(settings: Settings) -> EvidenceConfig:
    """The ``[evidence]`` table: ``folder`` (beside a SQLite database by default; a shared
    folder for a PostgreSQL deployment), ``max_file_mb``, ``max_files`` per event."""
    table = dict(settings.tables.get("evidence", {}))
    unknown = sorted(set(table) - {"folder", "max_file_mb", "max_files"})
    if unknown:
        raise SetupError(f"配置 [evidence] 含未知设置项: {', '.join(unknown)}")
    numbers = {}
    for key, default in (("max_file_mb", DEFAULT_MAX_FILE_MB), ("max_files", DEFAULT_MAX_FILES)):
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 100_000:
            raise SetupError(f"配置 [evidence] {key} 应为 1 至 100000 的整数")
        numbers[key] = value
    folder = table.get("folder")
    if folder is not None and (not isinstance(folder, str) or not folder.strip()):
        raise SetupError("配置 [evidence] folder 应为目录路径")
    return EvidenceConfig(Path(folder).expanduser() if folder else default_folder(settings),
                          Limits(numbers["max_file_mb"] << 20, numbers["max_files"]))


def default_folder(settings: Settings) -> Path:
    """Beside a SQLite database; under the user's data folder for a server database."""
    if settings.db_url.startswith("sqlite:///"):
        db_path = Path(settings.db_url.removeprefix("sqlite:///"))
        return db_path.with_name(db_path.stem + "-evidence")
    import platformdirs

    return Path(platformdirs.user_data_dir("duban")) / "evidence"


def attach(txn: Txn, item_id: int, files: Sequence[StoredFile], *, event: str | None,
           item_version: int, note: str | None = None) -> list[dict[str, Any]]:
    """Index the files for the item; their entries for the audit payload of the event."""
    entries = []
    for stored in files:
        evidence_id = txn.conn.execute(insert(EVIDENCE).values(
            item_id=item_id, sha256=stored.sha256, size=stored.size,
            media_type=stored.type.media_type, name=stored.name, event=event,
            item_version=item_version, note=note, public=False,
            attached_by=txn.actor.login, attached_at=txn.now)).inserted_primary_key[0]
        entries.append({"id": evidence_id, **stored.as_payload()})
    return entries


def may_add(txn: ReadTxn, item: Mapping[str, Any]) -> bool:
    return bool(roles_on_item(txn.directory, txn.actor, item, txn.now) & CONTRIBUTORS)


def add(txn: Txn, item: Mapping[str, Any], files: Sequence[StoredFile], note: str) -> list[dict]:
    """补充材料: files added to an item after its events, as an audit event of their own."""
    if not files:
        raise InvalidInput("请至少附一个文件")
    if not may_add(txn, item):
        raise Refused(f"{txn.actor.name}无权为事项 {item['id']} 补充材料: 只有承办单位、"
                      "牵头领导和督查室可以")
    note = _note(note)
    entries = attach(txn, item["id"], files, event=None, item_version=item["version"],
                     note=note)
    txn.audit.append(at=txn.now, actor=txn.actor.login, action="evidence_added",
                     item_id=item["id"], payload={"evidence": entries, "note": note})
    return entries


def withdraw(txn: Txn, evidence_id: int, reason: str) -> dict[str, Any]:
    """Hide a wrongly attached file: by whoever attached it, or the office."""
    row = _visible_row(txn, evidence_id)
    reason = _note(reason)
    if not reason:
        raise InvalidInput("撤回佐证材料须说明理由(--reason)")
    if row["withdrawn_at"] is not None:
        raise Refused(f"佐证材料 {evidence_id} 已于先前撤回")
    if row["attached_by"] != txn.actor.login and not txn.actor.has(Role.supervisor):
        raise Refused(f"{txn.actor.name}无权撤回佐证材料 {evidence_id}: 只有上传人或督查员可以")
    txn.conn.execute(update(EVIDENCE).where(EVIDENCE.c.id == evidence_id).values(
        withdrawn_by=txn.actor.login, withdrawn_at=txn.now, withdrawn_reason=reason))
    txn.audit.append(at=txn.now, actor=txn.actor.login, action="evidence_withdrawn",
                     item_id=row["item_id"], reason=reason,
                     payload={"evidence": {"id": evidence_id, "sha256": row["sha256"],
                                           "name": row["name"]}})
    return {**row, "withdrawn_by": txn.actor.login, "withdrawn_at": txn.now,
            "withdrawn_reason": reason}


def of_item(txn: ReadTxn, item_id: int, *, withdrawn: bool = False) -> list[dict[str, Any]]:
    """The evidence of an item the reader may see (the caller has loaded it), oldest first;
    the withdrawn only when asked for."""
    query = select(EVIDENCE).where(EVIDENCE.c.item_id == item_id).order_by(EVIDENCE.c.id)
    if not withdrawn:
        query = query.where(EVIDENCE.c.withdrawn_at.is_(None))
    return [dict(row) for row in txn.conn.execute(query).mappings()]


def described(row: Mapping[str, Any], workflow: Workflow,
              people: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The row with what a person reads: the file's kind, the event's label, who added it."""
    spec = workflow.event(row["event"]) if row["event"] else None
    person = people.get(row["attached_by"])
    return {**row, "type_label": LABELS.get(row["media_type"], row["media_type"]),
            "attached_by_name": person["name"] if person else row["attached_by"],
            "event_label": spec.label if spec else ("补充材料" if not row["event"]
                                                    else row["event"]),
            "is_image": row["media_type"].startswith("image/")}


def one(txn: ReadTxn, evidence_id: int) -> dict[str, Any]:
    """One file's row, if the reader may see its item (withdrawn ones included: the record
    keeps them, and the office may need to look)."""
    return _visible_row(txn, evidence_id)


def counts(conn: Connection, item_ids: Iterable[int]) -> dict[int, int]:
    """How many files each item cites (not withdrawn): the ledger's 佐证 column."""
    ids = list(item_ids)
    if not ids:
        return {}
    rows = conn.execute(select(EVIDENCE.c.item_id, func.count()).where(
        EVIDENCE.c.item_id.in_(ids), EVIDENCE.c.withdrawn_at.is_(None))
        .group_by(EVIDENCE.c.item_id))
    return {item_id: count for item_id, count in rows}


def _visible_row(txn: ReadTxn, evidence_id: int) -> dict[str, Any]:
    """The row, if the reader may see its item; a refused read looks like a missing file."""
    row = txn.conn.execute(select(EVIDENCE).where(EVIDENCE.c.id == evidence_id)).mappings().first()
    missing = f"没有编号为 {evidence_id} 的佐证材料, 或你无权查看"
    if row is None:
        raise NotFound(missing)
    item = txn.conn.execute(select(ITEM).where(ITEM.c.id == row["item_id"])).mappings().one()
    if not visibility.sees_item(txn, item):
        raise NotVisible(missing, f"无权查看佐证材料 {evidence_id}")
    return dict(row)


def _note(text: str | None) -> str:
    text = " ".join((text or "").split())
    if len(text) > MAX_NOTE:
        raise InvalidInput(f"说明最长 {MAX_NOTE} 字")
    return text


@dataclass
class FilesReport:
    """What ``audit verify --files`` found: every file the record cites, checked."""

    files_checked: int = 0
    problems: list[str] | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def cited_files(conn: Connection) -> list[tuple[int, dict[str, Any]]]:
    """(audit seq, file entry) of every file the audit events cite."""
    payload = cast(AUDIT_EVENT.c.payload, Text)
    rows = conn.execute(select(AUDIT_EVENT.c.seq, AUDIT_EVENT.c.payload)
                        .where(payload.like('%"sha256"%'),
                               AUDIT_EVENT.c.action != "evidence_withdrawn")
                        .order_by(AUDIT_EVENT.c.seq))
    found = []
    for seq, body in rows:
        for entry in (body or {}).get("evidence") or ():
            if isinstance(entry, dict) and "sha256" in entry:
                found.append((seq, entry))
    return found


def verify_files(conn: Connection, store: FileStore, workers: int | None = None) -> FilesReport:
    """Every cited file exists in the store and still has its hash; the problems name the
    audit event and the file. Large files are hashed on a thread per core (hashing releases
    the GIL); small ones on one, where threads would only queue for it."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    cited = cited_files(conn)
    unique = sorted({(entry["sha256"], int(entry["size"])) for _, entry in cited})
    if workers is None:
        average = sum(size for _, size in unique) / max(len(unique), 1)
        workers = min(4, os.cpu_count() or 1) if average >= PARALLEL_FROM_BYTES else 1
    # one slice per thread: a future per file would cost more than hashing a small file
    slices = [unique[n::workers] for n in range(workers)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        found = pool.map(lambda part: [(key, store.check(*key)) for key in part], slices)
        verdicts = {key: problem for part in found for key, problem in part}
    problems = [
        f"审计事件 {seq}: 佐证材料 {entry.get('id', '?')} “{entry.get('name', '')}” "
        f"({entry['sha256'][:16]}…) {verdicts[(entry['sha256'], int(entry['size']))]}"
        for seq, entry in cited if verdicts[(entry["sha256"], int(entry["size"]))]
    ]
    return FilesReport(len(unique), problems)
