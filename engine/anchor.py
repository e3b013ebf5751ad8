"""Anchors: the audit chain's signed head, kept outside the database.

The checkpoints inside the database catch a chain edited in place, but not a tail cut
together with its checkpoints, nor a whole chain rebuilt and re-signed with a new key: both
look whole from inside. An anchor is a copy of the head at some moment (sequence, hash, time,
key id, HMAC signature and a plain SHA-256 of the signed statement) appended to a file the
database's writers cannot rewrite, and optionally published on the public board. Checking
later that the chain still reaches every anchored head, with the same hashes and the same key,
catches both.

The anchored head is the one *before* the ``audit_anchored`` event that records the anchor:
the line is written first, inside the transaction that then appends the event, so a line
always names a head that was committed, even when that transaction fails afterwards.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select

from duban.engine.audit import read_head
from duban.engine.errors import InvalidInput, SetupError
from duban.engine.evidence_store import sync_dir
from duban.engine.models import AUDIT_EVENT
from duban.engine.permissions import make_private_dir, private_mode
from duban.engine.signing import Signer
from duban.engine.timeutil import iso
from duban.engine.txn import Txn
from duban.engine.userfiles import read_bounded, reason
from duban.engine.validation import shown

FORMAT = "duban-audit-anchor/1"
ACTION = "audit_anchored"
BOARD_FILE = "anchor.json"  # the latest anchor, beside the board's feed.json
FIELDS = ("record", "seq", "hash", "at", "key_id", "signature", "sha256")
HEX_FIELDS = ("record", "hash", "signature", "sha256")
MAX_PROBLEMS = 50
LOOKUP_CHUNK = 500

# A line a day is a few hundred bytes a day: this is centuries of anchors, and a bound on a
# path that turns out to be /dev/zero or a stray large file.
MAX_ANCHOR_FILE = 16 * 1024 * 1024


def anchor_message(record: str, seq: int, head_hash: str, at: str) -> str:
    """The statement an anchor signs: which record, how far, what head, when."""
    return f"duban-audit-anchor:{record}:{seq}:{head_hash}:{at}"


@dataclass(frozen=True)
class Anchor:
    """One anchored head. ``record`` names the chain (the hash of its first event), so an
    anchor of another database is told apart from a rewritten one."""

    record: str
    seq: int
    hash: str
    at: str  # canonical ISO text, signed as written
    key_id: str
    signature: str
    sha256: str
    line: int = field(default=0, compare=False)  # where it was read, for messages

    @classmethod
    def sign(cls, signer: Signer, record: str, seq: int, head_hash: str,
             at: datetime) -> Anchor:
        at_text = iso(at) or ""
        statement = anchor_message(record, seq, head_hash, at_text)
        return cls(record, seq, head_hash, at_text, signer.key_id, signer.sign(statement),
                   hashlib.sha256(statement.encode()).hexdigest())

    @property
    def statement(self) -> str:
        return anchor_message(self.record, self.seq, self.hash, self.at)

    @property
    def instant(self) -> datetime:
        return datetime.fromisoformat(self.at)

    def as_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, **{name: getattr(self, name) for name in FIELDS}}

    def as_line(self) -> str:
        return json.dumps(self.as_dict(), ensure_ascii=False, separators=(",", ":")) + "\n"


@dataclass(frozen=True)
class AnchorPlaces:
    """Where anchors go: an append-only file, the public board's folder, or both."""

    file: Path | None = None
    board: Path | None = None

    @property
    def empty(self) -> bool:
        return self.file is None and self.board is None

    def same(self, payload: Mapping[str, Any]) -> bool:
        """Whether an ``audit_anchored`` event went to these places."""
        return (payload.get("file") == _text(self.file)
                and payload.get("board") == _text(self.board))


@dataclass(frozen=True)
class Anchored:
    """What ``anchor`` wrote: the anchor and the places it reached."""

    anchor: Anchor
    file: Path | None
    board: Path | None


def places_from(settings: Any) -> AnchorPlaces:
    """``[audit] anchor = "/path/anchors.jsonl"`` and ``anchor_board = true`` (publish the
    latest anchor in ``[board] folder``). Publishing is a choice of the office: the board then
    shows how many events the record holds."""
    table = dict(settings.tables.get("audit", {}))
    unknown = sorted(set(table) - {"anchor", "anchor_board"})
    if unknown:
        raise SetupError(f"配置 [audit] 含未知设置项: {', '.join(unknown)}")
    file = table.get("anchor")
    if file is not None and (not isinstance(file, str) or not file.strip()):
        raise SetupError("配置 [audit] anchor 应为锚点文件路径")
    publish = table.get("anchor_board", False)
    if not isinstance(publish, bool):
        raise SetupError("配置 [audit] anchor_board 应为 true 或 false")
    board = None
    if publish:
        folder = settings.tables.get("board", {}).get("folder")
        if not isinstance(folder, str) or not folder.strip():
            raise SetupError("配置 [audit] anchor_board = true 需要 [board] folder")
        board = Path(folder).expanduser()
    return AnchorPlaces(Path(file).expanduser() if file else None, board)


# -- writing ------------------------------------------------------------------------------

def anchor_head(txn: Txn, signer: Signer, places: AnchorPlaces) -> Anchored:
    """Sign the head, write it to ``places`` and record an ``audit_anchored`` event."""
    if places.empty:
        raise SetupError("未配置锚点位置: 请用 --to 文件, 或在配置文件中设置 [audit] anchor")
    seq, head_hash = read_head(txn.conn)
    record = record_identity(txn.conn)
    if record is None:
        raise InvalidInput("审计记录为空, 没有可锚定的链头")
    anchor = Anchor.sign(signer, record, seq, head_hash, txn.now)
    board = places.board if places.board is not None and board_built(places.board) else None
    if places.file is None and board is None:
        raise SetupError(f"公开页面目录 {places.board} 尚未生成, 锚点无处写入")
    if places.file is not None:
        append_anchor(places.file, anchor)
    if board is not None:
        publish_on_board(board, anchor)
    txn.audit.append(at=txn.now, actor=txn.actor.login, action=ACTION,
                     payload={**anchor.as_dict(), "file": _text(places.file),
                              "board": _text(places.board)})
    return Anchored(anchor, places.file, board)


def append_anchor(path: Path, anchor: Anchor) -> None:
    """Append one line and make it durable. The file is opened for appending only: duban
    never truncates or rewrites it (put it where the database's writers cannot either)."""
    try:
        created = not path.exists()
        if created:
            make_private_dir(path.parent)
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, private_mode(0o640))
        try:
            line = anchor.as_line()
            if os.fstat(descriptor).st_size and not _ends_with_newline(path):
                line = "\n" + line  # a torn last line stays a line of its own
            os.write(descriptor, line.encode())
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        if created:
            sync_dir(path.parent)
    except OSError as err:
        raise InvalidInput(f"无法写入锚点文件 {shown(path)}: {reason(err)}") from None


def board_built(folder: Path) -> bool:
    """A folder the board was built in: anything else is not ours to write into."""
    return (folder / "feed.json").is_file()


def publish_on_board(folder: Path, anchor: Anchor) -> None:
    """The latest anchor as ``anchor.json`` in the built board: replaced whole, never half."""
    target = folder / BOARD_FILE
    partial = folder / f".{BOARD_FILE}.partial"
    try:
        partial.write_text(anchor.as_line(), encoding="utf-8")
        os.replace(partial, target)
    except OSError as err:
        raise SetupError(f"无法在公开页面 {folder} 写入锚点: {err.strerror}") from None


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


def _text(path: Path | None) -> str | None:
    return None if path is None else str(path)


# -- reading ------------------------------------------------------------------------------

def record_identity(conn: Connection) -> str | None:
    """The record's name: the hash of its first event, fixed once the chain has begun."""
    return conn.execute(select(AUDIT_EVENT.c.hash).where(AUDIT_EVENT.c.seq == 1)).scalar()


def last_anchor(conn: Connection, places: AnchorPlaces, scan: int = 10) -> Anchor | None:
    """The newest anchor recorded as sent to ``places`` (among the last ``scan`` anchors)."""
    payloads = conn.execute(
        select(AUDIT_EVENT.c.payload).where(AUDIT_EVENT.c.action == ACTION)
        .order_by(AUDIT_EVENT.c.seq.desc()).limit(scan)
    ).scalars()
    for payload in payloads:
        if places.same(payload):
            try:
                return parse_anchor(payload, 0)
            except ValueError:
                return None
    return None


def read_anchors(path: Path) -> list[Anchor]:
    """Every anchor of a file; a file that cannot be read or a line that does not parse is
    refused whole, naming the line."""
    if not os.path.lexists(path):
        raise InvalidInput(f"锚点文件 {path} 不存在")
    data = read_bounded(path, MAX_ANCHOR_FILE, "锚点文件")
    anchors = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        problem = f"锚点文件 {path} 第 {number} 行无法解读"
        try:
            value = json.loads(raw.decode("utf-8"))
        except ValueError:  # not UTF-8, or not JSON
            raise InvalidInput(f"{problem}: 不是 JSON") from None
        try:
            anchors.append(parse_anchor(value, number))
        except ValueError as err:
            raise InvalidInput(f"{problem}: {err}") from None
    if not anchors:
        raise InvalidInput(f"锚点文件 {path} 中没有锚点")
    return anchors


def parse_anchor(value: Any, line: int) -> Anchor:
    if not isinstance(value, dict) or value.get("format") != FORMAT:
        raise ValueError(f"不是 {FORMAT} 格式的锚点")
    missing = [name for name in FIELDS if name not in value]
    if missing:
        raise ValueError(f"缺少 {', '.join(missing)}")
    seq = value["seq"]
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise ValueError("seq 应为正整数")
    for name in ("at", "key_id", *HEX_FIELDS):
        if not isinstance(value[name], str) or not value[name]:
            raise ValueError(f"{name} 应为文本")
    for name in HEX_FIELDS:
        if any(char not in "0123456789abcdef" for char in value[name]):
            raise ValueError(f"{name} 应为十六进制")
    try:
        at = datetime.fromisoformat(value["at"])
    except ValueError:
        raise ValueError("at 不是时间") from None
    if at.tzinfo is None:
        raise ValueError("at 缺少时区")
    return Anchor(*(value[name] for name in FIELDS), line=line)


# -- checking -----------------------------------------------------------------------------

@dataclass
class AnchorReport:
    """What ``duban audit verify --anchor`` found: one problem line per failing anchor."""

    anchors_checked: int = 0
    head_seq: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_anchors(conn: Connection, signer: Signer, anchors: Sequence[Anchor],
                  tz: ZoneInfo, source: str = "") -> AnchorReport:
    """Whether the chain still reaches every anchored head, unchanged and under this key."""
    head_seq, _ = read_head(conn)
    record = record_identity(conn)
    stored = _hashes_at(conn, sorted({anchor.seq for anchor in anchors}))
    report = AnchorReport(head_seq=head_seq)
    for anchor in anchors:
        report.anchors_checked += 1
        findings = _findings(anchor, signer, record, head_seq, stored.get(anchor.seq))
        if findings and len(report.problems) < MAX_PROBLEMS:
            when = anchor.instant.astimezone(tz).strftime("%Y-%m-%d %H:%M")
            report.problems.append(
                f"锚点{source}第 {anchor.line} 行({when}, 序号 {anchor.seq}): "
                + "; ".join(findings))
    return report


def _findings(anchor: Anchor, signer: Signer, record: str | None, head_seq: int,
              stored_hash: str | None) -> list[str]:
    findings = []
    if hashlib.sha256(anchor.statement.encode()).hexdigest() != anchor.sha256:
        findings.append("摘要与内容不符(锚点被改动)")
    if anchor.key_id != signer.key_id:
        findings.append(f"由另一把密钥({anchor.key_id})签名, 本库现用密钥 {signer.key_id}: "
                        "审计链可能已用新密钥重签")
    elif not signer.check(anchor.statement, anchor.signature):
        findings.append("签名无效(锚点被伪造或改动)")
    if record is not None and record != anchor.record:
        findings.append("库中审计链的首条事件与锚定时不同: 整条链被重建, 或锚点不属于本库")
    elif anchor.seq > head_seq:
        findings.append(f"库中审计链只到序号 {head_seq}: 链尾被截断")
    elif stored_hash is None:
        findings.append("库中没有该序号的事件(被删除)")
    elif stored_hash != anchor.hash:
        findings.append(f"库中该序号的哈希为 {stored_hash[:16]}…, 锚定时为 {anchor.hash[:16]}…: "
                        "该序号及之前的事件被改写")
    return findings


def _hashes_at(conn: Connection, seqs: list[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    for start in range(0, len(seqs), LOOKUP_CHUNK):
        chunk = seqs[start:start + LOOKUP_CHUNK]
        rows = conn.execute(select(AUDIT_EVENT.c.seq, AUDIT_EVENT.c.hash)
                            .where(AUDIT_EVENT.c.seq.in_(chunk)))
        found.update({row.seq: row.hash for row in rows})
    return found
