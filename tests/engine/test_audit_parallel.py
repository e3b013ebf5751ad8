"""The chain walked in ranges, here or in worker processes, gives the report of one walk from
the first event to the last, whatever was done to the chain; a range that cannot be walked
fails the verification."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Connection, select, text

from duban.engine import audit_verify
from duban.engine.audit import GENESIS_HASH, AuditWriter, VerifyReport, event_hash
from duban.engine.audit_verify import COLUMNS, content_problem, replay, split, walk_range
from duban.engine.errors import InternalError, SetupError
from duban.engine.models import AUDIT_CHECKPOINT, AUDIT_EVENT
from duban.engine.service import Service
from duban.engine.signing import Signer
from tests.conftest import START
from tests.engine.test_audit import (
    chain,
    checkpoint_seqs,
    execute,
    rewrite_chain_from,
    rich_history,
)


def one_walk(conn: Connection, signer: Signer) -> VerifyReport:
    """The walk as it was before ranges: row by row, each checkpoint at its row, one report."""
    report = VerifyReport()
    expected_seq, prev_hash, last_good = 1, GENESIS_HASH, 0
    points = {row.seq: row for row in conn.execute(select(AUDIT_CHECKPOINT))}
    for row in conn.execute(select(*COLUMNS).where(AUDIT_EVENT.c.seq > 0)
                            .order_by(AUDIT_EVENT.c.seq)):
        seq, row_hash = row.seq, row.hash
        if seq != expected_seq:
            report.fail(expected_seq, f"序号 {expected_seq} 至 {seq - 1} 的事件缺失(被删除)")
        elif row.prev_hash != prev_hash:
            report.fail(seq, f"事件 {seq} 的前序哈希与上一条不符(被删除、插入或调换)")
        elif (problem := content_problem(row)) is not None:
            report.fail(seq, problem)
        point = points.get(seq)
        if point is not None:
            report.checkpoints_checked += 1
            report.last_checkpoint_seq = seq
            if point.key_id != signer.key_id:
                report.fail(seq, f"检查点 {seq} 由另一把密钥({point.key_id})签名, 无法核验")
            elif not signer.check(f"duban-audit-checkpoint:{seq}:{point.head_hash}",
                                  point.signature):
                report.fail(seq, f"检查点 {seq} 的签名无效(检查点被伪造或改动)")
            elif point.head_hash != row_hash:
                first = report.first_bad_seq
                exact = first is not None and last_good < first <= seq
                report.fail(first if exact else last_good + 1, f"检查点 {seq} 与链不符: "
                            f"序号 {last_good + 1} 至 {seq} 之间的事件被改写")
            else:
                last_good = seq
        report.rows_checked += 1
        expected_seq, prev_hash = seq + 1, row_hash
        report.head_seq, report.head_hash = seq, row_hash
    audit_verify._check_tail(conn, report)
    return report


def walked_in(conn: Connection, signer: Signer, ranges: list[tuple[int, int]],
              page_size: int = 3) -> VerifyReport:
    report = VerifyReport()
    replay([walk_range(conn, signer, after, upto, page_size) for after, upto in ranges], report)
    audit_verify._check_tail(conn, report)
    return report


def head_of(service: Service) -> int:
    return max((row["seq"] for row in chain(service)), default=0)


# -- what may have been done to the chain -----------------------------------------------------

def swap(service: Service, k: int) -> None:
    execute(service,
            ("UPDATE audit_event SET seq = -1 WHERE seq = :k", {"k": k}),
            ("UPDATE audit_event SET seq = :k WHERE seq = :n", {"k": k, "n": k + 1}),
            ("UPDATE audit_event SET seq = :n WHERE seq = -1", {"n": k + 1}))


def forge_tail(service: Service, count: int) -> None:
    """Events appended behind the engine's back, hashed right but under no checkpoint."""
    rows = chain(service)
    last = rows[-1]
    with service.db.engine.begin() as conn:
        for number in range(1, count + 1):
            forged = {**last, "seq": last["seq"] + number, "reason": "伪造",
                      "prev_hash": last["hash"]}
            forged["hash"] = event_hash(last["hash"], forged)
            conn.execute(AUDIT_EVENT.insert(), forged)
            last = forged


TAMPERINGS = {
    "clean": lambda s, h: None,
    "edited": lambda s, h: execute(s, ("UPDATE audit_event SET reason = 'x' WHERE seq = :k",
                                       {"k": h // 2})),
    "edited_everywhere": lambda s, h: execute(s, ("UPDATE audit_event SET reason = 'x'", {})),
    "deleted_first": lambda s, h: execute(s, ("DELETE FROM audit_event WHERE seq = 1", {})),
    "deleted_run": lambda s, h: execute(s, ("DELETE FROM audit_event WHERE seq BETWEEN :a AND :b",
                                            {"a": h // 3, "b": h // 3 + 4})),
    "swapped": lambda s, h: swap(s, h // 2),
    "rewritten": lambda s, h: rewrite_chain_from(s, h // 2, "改写"),
    "rewritten_twice": lambda s, h: (rewrite_chain_from(s, h // 3, "改写"),
                                     rewrite_chain_from(s, 2 * h // 3, "再改写")),
    "rewritten_stripped": lambda s, h: (rewrite_chain_from(s, h // 2, "改写"),
                                        execute(s, ("DELETE FROM audit_checkpoint WHERE seq >= :k",
                                                    {"k": h // 2}))),
    "forged_signature": lambda s, h: execute(
        s, ("UPDATE audit_checkpoint SET signature = :sig WHERE seq = :k",
            {"sig": "0" * 64, "k": checkpoint_seqs(s)[len(checkpoint_seqs(s)) // 2]})),
    "other_key": lambda s, h: execute(
        s, ("UPDATE audit_checkpoint SET key_id = 'ffffffffffffffff' WHERE seq > :k",
            {"k": h // 2})),
    "cut_tail": lambda s, h: execute(s, ("DELETE FROM audit_event WHERE seq > :k", {"k": h - 3})),
    "forged_tail": lambda s, h: forge_tail(s, 3),
    "version_flipped": lambda s, h: execute(
        s, ("UPDATE audit_event SET hash_version = 1 WHERE seq = :k", {"k": h - 5})),
    "unknown_version": lambda s, h: execute(
        s, ("UPDATE audit_event SET hash_version = 7 WHERE seq = :k", {"k": 3})),
}


@pytest.mark.parametrize("tampering", sorted(TAMPERINGS))
def test_every_way_of_cutting_the_chain_gives_the_report_of_one_walk(office, tampering):
    service = office.service
    rich_history(office)
    TAMPERINGS[tampering](service, head_of(service))
    signer = service.signer
    with service.db.read() as conn:
        head = conn.execute(text("SELECT max(seq) FROM audit_event")).scalar()
        expected = one_walk(conn, signer)
        assert audit_verify.verify(conn, signer).__dict__ == expected.__dict__
        for cut in range(1, head):  # every place of a cut between two ranges
            assert walked_in(conn, signer, [(0, cut), (cut, head)]).__dict__ \
                == expected.__dict__, cut
        singles = [(seq - 1, seq) for seq in range(1, head + 1)]
        assert walked_in(conn, signer, singles).__dict__ == expected.__dict__
        for count in (3, 7):
            assert walked_in(conn, signer, split(head, count), page_size=2).__dict__ \
                == expected.__dict__
    if tampering == "clean":
        assert expected.ok and expected.rows_checked == head
    else:
        assert not expected.ok and expected.first_bad_seq is not None
    if tampering == "edited_everywhere":
        assert len(expected.problems) == 50  # the report names no more


@pytest.mark.parametrize("tampering", ["clean", "rewritten", "edited_everywhere", "cut_tail"])
def test_worker_processes_give_the_report_of_one_walk(office, tampering):
    service = office.service
    rich_history(office)
    TAMPERINGS[tampering](service, head_of(service))
    with service.db.read() as conn:
        expected = one_walk(conn, service.signer)
        for ranges, page_size in ((None, audit_verify.PAGE_SIZE), (11, 2)):
            report = audit_verify.verify(conn, service.signer, url=service.db.url, workers=2,
                                         parallel_from=1, ranges=ranges, page_size=page_size)
            assert report.__dict__ == expected.__dict__


def test_a_range_a_worker_cannot_read_fails_the_verification(office, tmp_path):
    service = office.service
    rich_history(office)
    empty = tmp_path / "empty.db"
    empty.touch()  # a database without the chain's tables
    with service.db.read() as conn:
        with pytest.raises(InternalError, match="审计链校验未能完成: 校验序号 1 至"):
            audit_verify.verify(conn, service.signer, url=f"sqlite:///{empty}", workers=2,
                                parallel_from=1)
        with pytest.raises(SetupError, match="不存在"):  # a worker's own error, as it was
            audit_verify.verify(conn, service.signer, url=f"sqlite:///{tmp_path / 'none.db'}",
                                workers=2, parallel_from=1)


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc").exists(), reason="finds the workers in /proc")
@pytest.mark.parametrize("db_kind", ["sqlite"])
def test_a_worker_killed_midway_fails_the_verification(service):
    writer_conn = service.db.engine.connect()
    with writer_conn.begin():
        writer = AuditWriter(writer_conn, service.signer, serialize=False)
        for number in range(20_000):
            writer.append(at=START, actor="admin", action="edited", reason=f"第 {number} 条")
        writer.seal(START)
    writer_conn.close()
    killed: list[int] = []

    def kill_a_worker() -> None:
        deadline = time.monotonic() + 60
        while not killed and time.monotonic() < deadline:
            workers = [grandchild for child in children_of(os.getpid())
                       for grandchild in children_of(child)]
            if workers:
                os.kill(workers[0], signal.SIGKILL)
                killed.append(workers[0])
            time.sleep(0.01)

    killer = threading.Thread(target=kill_a_worker)
    killer.start()
    try:
        with service.db.read() as conn, pytest.raises(InternalError, match="进程出错"):
            audit_verify.verify(conn, service.signer, url=service.db.url, workers=2,
                                parallel_from=1, page_size=1)  # slow enough to be caught
    finally:
        killer.join()
    assert killed
