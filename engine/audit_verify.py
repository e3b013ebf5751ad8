"""Verifying the audit chain: one walk, over the whole chain here or over ranges in parallel.

The walk reads events in pages in sequence order and checks each one's link to the event
before it and its hash (by the scheme the row names, :mod:`duban.engine.audit`), and each
checkpoint signed at an event: its key, its signature, and the event's hash it records.

A chain of fewer than :data:`PARALLEL_FROM` events is walked in the caller's transaction as a
single range. A longer one is cut into ranges of sequences fixed at the start, up to the head
read then; worker processes (one per core, each with its own connection from the database
URL) walk one range at a time. A range's walk comes back as a summary: its first event, left
for the range before it to link to, its last, and what it found in order. The summaries are
replayed here, range after range, into one report: the same report one walk from the first
event to the last gives, since the walk here is one range replayed the same way. What lies
beyond the head (checkpoints of a cut tail) is checked here, in the caller's snapshot.

A range that cannot be walked fails the whole verification: no report is made of the rest.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, String, Text, cast, select, type_coerce
from sqlalchemy.engine import make_url

from duban.engine.audit import (
    GENESIS_HASH,
    MAX_PROBLEMS,
    VerifyReport,
    at_text,
    checkpoint_message,
    event_hash_v1,
    hash_v2,
    read_head,
)
from duban.engine.db import Database
from duban.engine.errors import DubanError, InternalError
from duban.engine.models import AUDIT_CHECKPOINT, AUDIT_EVENT
from duban.engine.signing import Signer

if TYPE_CHECKING:  # processes are imported when a chain is long enough to need them
    from multiprocessing.context import BaseContext

PAGE_SIZE = 20_000  # events per query: about 20 MB of rows in memory in each process
PARALLEL_FROM = 50_000  # shorter chains are walked here: starting workers costs more
RANGES_PER_WORKER = 4  # ranges of a chain whose old part (version 1) is slower to check

_EVENT = AUDIT_EVENT.c
# The instant and the payload as stored: the payload's text is what version 2 hashed, and a
# value edited into something unreadable is reported at its row instead of failing the walk.
COLUMNS = (
    _EVENT.seq, _EVENT.hash_version, type_coerce(_EVENT.at, String()).label("at"), _EVENT.actor,
    _EVENT.item_id, _EVENT.action, _EVENT.event, _EVENT.from_state, _EVENT.to_state,
    _EVENT.reason, cast(_EVENT.payload, Text).label("payload"), _EVENT.prev_hash, _EVENT.hash,
)
_FIELDS = tuple(column.name for column in COLUMNS)
_CHECKPOINT = AUDIT_CHECKPOINT.c


@dataclass
class RangeWalk:
    """What the walk of one range of sequences found, to be replayed into a report.

    ``findings`` are in sequence order: ``("event", seq, message)``, ``("key", seq, key_id)``,
    ``("signature", seq)`` and ``("head", seq, last good checkpoint in the range or None)``;
    each one is one failure of the report. After :data:`MAX_PROBLEMS` the rest are dropped:
    the report names no more, and its first bad sequence is set by then."""

    first: tuple[int, str, str | None] | None = None  # seq, prev_hash, its content's problem
    last_seq: int = 0
    last_hash: str = GENESIS_HASH
    rows: int = 0
    findings: list[tuple[Any, ...]] = field(default_factory=list)
    checkpoints: int = 0
    last_checkpoint: int | None = None
    last_good: int | None = None


def verify(conn: Connection, signer: Signer, *, url: str | None = None,
           workers: int | None = None, parallel_from: int = PARALLEL_FROM,
           ranges: int | None = None, page_size: int = PAGE_SIZE) -> VerifyReport:
    """Walk the whole chain and every checkpoint; report the first bad sequence, if any.

    With the database's ``url`` a chain of at least ``parallel_from`` events is cut into
    ``ranges`` ranges (default: :data:`RANGES_PER_WORKER` per worker) walked by ``workers``
    processes (default: one per core); without it, or on one core, it is walked here."""
    head, _ = read_head(conn)
    workers = usable_cores() if workers is None else workers
    if url is None or workers < 2 or head < max(parallel_from, 2) or not _shareable(url):
        walks = [walk_range(conn, signer, 0, head, page_size)]
    else:
        cuts = split(head, ranges or workers * RANGES_PER_WORKER)
        walks = _walk_in_workers(url, signer, cuts, workers, page_size)
    report = VerifyReport()
    replay(walks, report)
    _check_tail(conn, report)
    return report


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def walk_range(conn: Connection, signer: Signer, after: int, upto: int,
               page_size: int = PAGE_SIZE) -> RangeWalk:
    """Walk the events with ``after < seq <= upto``; the first one's link is left to
    :func:`replay`, which knows the range before it."""
    walk = RangeWalk()
    findings = walk.findings
    first, expected, prev_hash, last_good = None, -1, "", None
    while after < upto:
        page = conn.execute(
            select(*COLUMNS).where(_EVENT.seq > after, _EVENT.seq <= upto)
            .order_by(_EVENT.seq).limit(page_size)).all()
        if not page:
            break
        checkpoints = {point.seq: point for point in conn.execute(
            select(_CHECKPOINT.seq, _CHECKPOINT.head_hash, _CHECKPOINT.key_id,
                   _CHECKPOINT.signature)
            .where(_CHECKPOINT.seq > after, _CHECKPOINT.seq <= page[-1][0]))}
        for row in page:
            (seq, version, at, actor, item_id, action, event, from_state, to_state, reason,
             payload, row_prev, row_hash) = row
            problem = None
            if seq == expected and row_prev == prev_hash:
                # The common case inline: a version 2 event with its instant as SQLite keeps
                # it (content_problem does the same, and says what is wrong).
                if (version != 2 or type(at) is not str or len(at) != 26 or at[10] != " "
                        or type(payload) is not str
                        or hash_v2(row_prev, [2, seq, f"{at[:10]}T{at[11:]}+00:00", actor,
                                              item_id, action, event, from_state, to_state,
                                              reason], payload) != row_hash):
                    found = content_problem(row)
                    if found is not None:
                        problem = ("event", seq, found)
            elif first is None:
                first = walk.first = (seq, row_prev, content_problem(row))
            elif seq != expected:
                problem = ("event", expected, missing(expected, seq))
            else:
                problem = ("event", seq, relinked(seq))
            if problem is not None and len(findings) < MAX_PROBLEMS:
                findings.append(problem)
            if seq in checkpoints:
                walk.checkpoints += 1
                walk.last_checkpoint = seq
                problem = _checkpoint_problem(signer, checkpoints[seq], row_hash, last_good)
                if problem is None:
                    last_good = walk.last_good = seq
                elif len(findings) < MAX_PROBLEMS:
                    findings.append(problem)
            expected, prev_hash = seq + 1, row_hash
        walk.rows += len(page)
        walk.last_seq, walk.last_hash = page[-1][0], page[-1][12]
        after = walk.last_seq
    return walk


def content_problem(row: Any) -> str | None:
    """Why an event's stored content does not match its hash, or None when it does."""
    seq, version = row[0], row[1]
    if version == 2:
        at, payload = at_text(row[2]), row[10]
        try:
            if at is not None and isinstance(payload, str):
                matches = hash_v2(row[11], [2, seq, at, *row[3:10]], payload) == row[12]
                return None if matches else mismatched(seq)
        except (TypeError, ValueError):  # a field edited into a value of another kind
            pass
        return unreadable(seq)
    decoded = _decode(row) if version == 1 else None
    if decoded is None:
        return unreadable(seq)
    return None if event_hash_v1(row[11], decoded) == row[12] else mismatched(seq)


def _decode(row: Any) -> dict[str, Any] | None:
    """A version 1 row with its instant and payload parsed, or None when they do not parse."""
    values = dict(zip(_FIELDS, row, strict=True))
    try:
        at, payload = values["at"], values["payload"]
        if isinstance(at, str):
            at = datetime.fromisoformat(at)
        values["at"] = at.replace(tzinfo=UTC) if at.tzinfo is None else at
        values["payload"] = json.loads(payload) if isinstance(payload, str) else payload
    except (ValueError, TypeError, AttributeError):
        return None
    return values


def missing(expected: int, seq: int) -> str:
    return f"序号 {expected} 至 {seq - 1} 的事件缺失(被删除)"


def relinked(seq: int) -> str:
    return f"事件 {seq} 的前序哈希与上一条不符(被删除、插入或调换)"


def unreadable(seq: int) -> str:
    return f"事件 {seq} 的内容无法解读(被改动)"


def mismatched(seq: int) -> str:
    return f"事件 {seq} 的内容与其哈希不符(被改动)"


def _checkpoint_problem(signer: Signer, point: Any, row_hash: str,
                        last_good: int | None) -> tuple[Any, ...] | None:
    seq = point.seq
    if point.key_id != signer.key_id:
        return ("key", seq, point.key_id)
    if not signer.check(checkpoint_message(seq, point.head_hash), point.signature):
        return ("signature", seq)
    if point.head_hash != row_hash:
        return ("head", seq, last_good)
    return None


def replay(walks: list[RangeWalk], report: VerifyReport) -> None:
    """Fold the walks of consecutive ranges, in order, into ``report``, linking each range's
    first event to the last one before it."""
    expected, prev_hash, last_good = 1, GENESIS_HASH, 0
    for walk in walks:
        if walk.first is not None:
            seq, first_prev, problem = walk.first
            if seq != expected:
                report.fail(expected, missing(expected, seq))
            elif first_prev != prev_hash:
                report.fail(seq, relinked(seq))
            elif problem is not None:
                report.fail(seq, problem)
        for kind, seq, *detail in walk.findings:
            if kind == "event":
                report.fail(seq, detail[0])
            elif kind == "key":
                report.fail(seq, f"检查点 {seq} 由另一把密钥({detail[0]})签名, 无法核验")
            elif kind == "signature":
                report.fail(seq, f"检查点 {seq} 的签名无效(检查点被伪造或改动)")
            else:
                good = last_good if detail[0] is None else detail[0]
                # The chain check may already have named the exact row inside this range.
                first = report.first_bad_seq
                exact = first is not None and good < first <= seq
                report.fail(first if exact else good + 1,
                            f"检查点 {seq} 与链不符: 序号 {good + 1} 至 {seq} 之间的事件被改写")
        if walk.rows:
            report.rows_checked += walk.rows
            expected, prev_hash = walk.last_seq + 1, walk.last_hash
            report.head_seq, report.head_hash = walk.last_seq, walk.last_hash
        report.checkpoints_checked += walk.checkpoints
        if walk.last_checkpoint is not None:
            report.last_checkpoint_seq = walk.last_checkpoint
        if walk.last_good is not None:
            last_good = walk.last_good


def _check_tail(conn: Connection, report: VerifyReport) -> None:
    beyond = conn.execute(
        select(_CHECKPOINT.seq).where(_CHECKPOINT.seq > report.head_seq)
        .order_by(_CHECKPOINT.seq.desc()).limit(1)
    ).scalar()
    if beyond is not None:
        report.fail(
            report.head_seq + 1,
            f"检查点记录到序号 {beyond}, 链只到 {report.head_seq}: 链尾被截断",
        )
    elif report.head_seq > report.last_checkpoint_seq:
        report.fail(
            report.last_checkpoint_seq + 1,
            f"序号 {report.last_checkpoint_seq + 1} 至 {report.head_seq} 的事件没有签名检查点"
            "(在程序之外被追加或改写)",
        )


# -- in parallel ------------------------------------------------------------------------------

def _shareable(url: str) -> bool:
    """Whether other processes can open the same database (not an in-memory SQLite one)."""
    if not url.startswith("sqlite"):
        return True
    database = make_url(url).database
    return bool(database) and database != ":memory:" and "mode=memory" not in url


def split(head: int, count: int) -> list[tuple[int, int]]:
    """``(after, upto]`` ranges of about equal length covering the sequences up to ``head``."""
    count = max(1, min(count, head))
    bounds = [head * number // count for number in range(count + 1)]
    return list(zip(bounds, bounds[1:], strict=False))


def _walk_in_workers(url: str, signer: Signer, ranges: list[tuple[int, int]], workers: int,
                     page_size: int) -> list[RangeWalk]:
    from concurrent.futures import Future, ProcessPoolExecutor

    current = ranges[0]  # the range being handed out or waited for, to name in an error
    try:
        with ProcessPoolExecutor(max_workers=min(workers, len(ranges)),
                                 mp_context=_context()) as pool:
            try:
                futures: list[Future[RangeWalk]] = []
                for current in ranges:  # a worker may die while the others are handed out
                    futures.append(pool.submit(walk_range_at, url, signer, *current, page_size))
                walks = []
                for number, future in enumerate(futures):
                    current = ranges[number]
                    walks.append(future.result())
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
    except DubanError:
        raise
    except Exception as err:
        raise InternalError(
            f"审计链校验未能完成: 校验序号 {current[0] + 1} 至 {current[1]} 的进程出错"
            f"({type(err).__name__}: {err})") from err
    return walks


def walk_range_at(url: str, signer: Signer, after: int, upto: int,
                  page_size: int = PAGE_SIZE) -> RangeWalk:
    """:func:`walk_range` in a worker process, on a connection of its own."""
    database = Database(url)
    try:
        with database.read() as conn:
            return walk_range(conn, signer, after, upto, page_size)
    finally:
        database.dispose()


def _context() -> BaseContext:
    """Workers forked from a server process that has this module loaded and has never opened
    the database (a process forked from the caller would carry its connections and their
    locks); spawned where there is no such server."""
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context
