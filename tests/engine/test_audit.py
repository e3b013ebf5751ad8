"""The audit chain: tampering is found, refusals are kept, items rebuild, writers queue."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select, text, update

from duban.app import build_service
from duban.engine import directory
from duban.engine.audit import CHAIN_LOCK_KEY, GENESIS_HASH, checkpoint_message, event_hash
from duban.engine.clock import FixedClock
from duban.engine.errors import Conflict, IntegrityFailure, InvalidInput, NotFound, Refused
from duban.engine.models import AUDIT_CHECKPOINT, AUDIT_EVENT
from duban.engine.service import Service
from duban.engine.settings import Settings
from duban.engine.signing import Signer, ensure_key
from tests.conftest import ADMIN, START, build_office, item_events, local

ROOT = Path(__file__).resolve().parents[2]


# -- helpers ----------------------------------------------------------------------------------

def chain(service: Service) -> list[dict]:
    with service.db.engine.connect() as conn:
        rows = conn.execute(select(AUDIT_EVENT).order_by(AUDIT_EVENT.c.seq)).mappings()
        return [dict(row) for row in rows]


def checkpoint_seqs(service: Service) -> list[int]:
    with service.db.engine.connect() as conn:
        query = select(AUDIT_CHECKPOINT.c.seq).order_by(AUDIT_CHECKPOINT.c.seq)
        return list(conn.execute(query).scalars())


def execute(service: Service, *statements: tuple[str, dict]) -> None:
    """Run raw SQL in one transaction, behind the engine's back."""
    with service.db.engine.begin() as conn:
        for sql, params in statements:
            conn.execute(text(sql), params)


@contextmanager
def writers_held(service: Service) -> Iterator[None]:
    """Hold the point where writers queue (SQLite's write lock, PostgreSQL's chain lock)."""
    with service.db.engine.begin() as conn:  # on SQLite this is BEGIN IMMEDIATE
        if service.db.is_postgres:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK_KEY})
        yield


def rewrite_chain_from(service: Service, k: int, reason: str) -> None:
    """Edit event k, then recompute every hash from k on so that the chain alone looks valid."""
    with service.db.engine.begin() as conn:
        rows = conn.execute(
            select(AUDIT_EVENT).where(AUDIT_EVENT.c.seq >= k - 1).order_by(AUDIT_EVENT.c.seq)
        ).mappings().all()
        prev_hash = GENESIS_HASH
        for original in rows:
            row = dict(original)
            if row["seq"] < k:
                prev_hash = row["hash"]
                continue
            if row["seq"] == k:
                row["reason"] = reason
            row["prev_hash"] = prev_hash
            row["hash"] = event_hash(prev_hash, row)
            conn.execute(
                update(AUDIT_EVENT).where(AUDIT_EVENT.c.seq == row["seq"])
                .values(reason=row["reason"], prev_hash=row["prev_hash"], hash=row["hash"])
            )
            prev_hash = row["hash"]


def rich_history(office) -> dict:
    """Three items through most of the workflow, a refusal, an edit, and one write
    transaction that appends three events under a single checkpoint."""
    service = office.service
    a = office.item()
    office.fire("wang", a, "sign")
    office.fire("wang", a, "progress", note="已完成一半")
    office.fire("wang", a, "request_extension", reason="需招标", deadline="2026-12-05")
    office.fire("zhao", a, "approve_extension", reason="同意")
    office.fire("zhao", a, "warn", level="yellow", reason="进展偏慢")
    with service.transaction(ADMIN) as txn:
        for code in ("XXA", "XXB", "XXC"):
            directory.add_unit(txn, code, f"学校{code}", parent="JJK")
    batch = [row["seq"] for row in chain(service) if row["action"] == "unit_added"][-3:]
    office.fire("wang", a, "report", report="已完成排查")
    office.fire("zhao", a, "reject", reason="核查不实", deadline="2026-12-20")
    office.fire("wang", a, "report", report="已整改完毕")
    office.fire("zhao", a, "verify", note="现场核查属实")
    office.fire("zhao", a, "close")

    b = office.item(unit="AQK", title="食堂食品安全检查")
    office.fire("zheng", b, "decline", reason="非本科职责")
    office.fire("zhao", b, "transfer", unit="JJK", reason="按职责转办")
    office.fire("wang", b, "sign")
    office.fire("zhao", b, "summon", reason="严重滞后", at="2026-11-21 15:00", place="三楼会议室")
    office.fire("zhao", b, "hold_accountable", reason="慢作为")
    office.fire("zhao", b, "exempt", reason="系上级拨款延迟, 符合容错情形")

    c = office.item(unit="SYZ", lead_leader="chen", title="校舍维修")
    service.edit_item("zhao", c, {"title": "校舍维修改造", "goal": "寒假前完工"})
    with pytest.raises(NotFound):  # another unit's item: not theirs to see, recorded
        office.fire("liu", c, "sign")
    office.fire("lin", c, "sign")
    office.fire("ma", c, "request_extension", reason="材料未到", deadline="2026-12-10")
    office.fire("zhao", c, "deny_extension", reason="理由不充分")
    office.fire("zhao", c, "warn", level="红色预警", reason="逾期风险")
    return {"items": [a, b, c], "batch": batch}


@pytest.fixture
def history(office) -> dict:
    return rich_history(office)


# -- a clean history --------------------------------------------------------------------------

def test_clean_history_verifies(office, history):
    report = office.service.verify_audit(ADMIN)
    rows = chain(office.service)
    assert report.ok, report.problems
    assert report.problems == []
    assert report.first_bad_seq is None
    assert report.rows_checked == len(rows)
    assert [row["seq"] for row in rows] == list(range(1, len(rows) + 1))
    assert (report.head_seq, report.head_hash) == (rows[-1]["seq"], rows[-1]["hash"])
    assert report.checkpoints_checked == len(checkpoint_seqs(office.service))
    assert report.last_checkpoint_seq == rows[-1]["seq"]


def test_one_transaction_seals_its_events_with_one_checkpoint(office, history):
    first, middle, last = history["batch"]
    seqs = checkpoint_seqs(office.service)
    assert (first - 1 in seqs, first in seqs, middle in seqs, last in seqs) == (
        True, False, False, True)


# -- tampering --------------------------------------------------------------------------------

@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_an_edited_event_is_found_where_it_was_edited(office, history, where):
    rows = chain(office.service)
    k = {"first": 1, "middle": len(rows) // 2, "last": len(rows)}[where]
    execute(office.service,
            ("UPDATE audit_event SET reason = :reason WHERE seq = :k", {"reason": "改过", "k": k}))
    report = office.service.verify_audit(ADMIN)
    assert not report.ok
    assert report.first_bad_seq == k
    assert any(f"事件 {k} 的内容与其哈希不符" in problem for problem in report.problems)


def test_an_edited_payload_is_found(office, history):
    rows = chain(office.service)
    k = next(row["seq"] for row in rows if row["event"] == "approve_extension")
    payload = dict(rows[k - 1]["payload"], values={"reason": "同意", "deadline": "2027-06-30"})
    execute(office.service, ("UPDATE audit_event SET payload = :payload WHERE seq = :k",
                             {"payload": json.dumps(payload, ensure_ascii=False), "k": k}))
    report = office.service.verify_audit(ADMIN)
    assert (report.ok, report.first_bad_seq) == (False, k)


@pytest.mark.parametrize("where", ["first", "middle"])
def test_a_deleted_event_is_found_where_it_was(office, history, where):
    rows = chain(office.service)
    k = {"first": 1, "middle": len(rows) // 2}[where]
    execute(office.service, ("DELETE FROM audit_event WHERE seq = :k", {"k": k}))
    report = office.service.verify_audit(ADMIN)
    assert not report.ok
    assert report.first_bad_seq == k
    assert report.rows_checked == len(rows) - 1
    assert any("缺失" in problem for problem in report.problems)


@pytest.mark.parametrize("where", ["first", "middle", "before_last"])
def test_two_swapped_events_are_found_at_the_first(office, history, where):
    rows = chain(office.service)
    k = {"first": 1, "middle": len(rows) // 2, "before_last": len(rows) - 1}[where]
    execute(
        office.service,
        ("UPDATE audit_event SET seq = :tmp WHERE seq = :k", {"tmp": -1, "k": k}),
        ("UPDATE audit_event SET seq = :k WHERE seq = :next", {"k": k, "next": k + 1}),
        ("UPDATE audit_event SET seq = :next WHERE seq = :tmp", {"next": k + 1, "tmp": -1}),
    )
    swapped = chain(office.service)
    assert (swapped[k - 1]["hash"], swapped[k]["hash"]) == (rows[k]["hash"], rows[k - 1]["hash"])
    report = office.service.verify_audit(ADMIN)
    assert not report.ok
    assert report.first_bad_seq == k


@pytest.mark.parametrize("where", ["inside_a_transaction", "item_event"])
def test_a_consistently_rewritten_chain_fails_on_the_signed_checkpoints(office, history, where):
    rows = chain(office.service)
    if where == "inside_a_transaction":
        k = history["batch"][1]
    else:
        k = next(row["seq"] for row in rows if row["event"] == "hold_accountable")
    rewrite_chain_from(office.service, k, "问责理由被改写")
    rewritten = chain(office.service)
    assert rewritten[k - 1]["reason"] == "问责理由被改写"
    for prev, row in zip([None, *rewritten], rewritten, strict=False):  # the chain alone is fine
        assert row["prev_hash"] == (GENESIS_HASH if prev is None else prev["hash"])
        assert row["hash"] == event_hash(row["prev_hash"], row)

    report = office.service.verify_audit(ADMIN)
    previous_checkpoint = max(seq for seq in checkpoint_seqs(office.service) if seq < k)
    assert not report.ok
    assert previous_checkpoint < report.first_bad_seq <= k
    assert report.first_bad_seq == previous_checkpoint + 1
    assert any("被改写" in problem for problem in report.problems)
    if where == "inside_a_transaction":
        assert report.first_bad_seq == history["batch"][0] < k


def test_a_rewritten_chain_stripped_of_its_checkpoints_is_found(office, history):
    rows = chain(office.service)
    k = next(row["seq"] for row in rows if row["event"] == "deny_extension")
    rewrite_chain_from(office.service, k, "改写")
    execute(office.service, ("DELETE FROM audit_checkpoint WHERE seq >= :k", {"k": k}))
    report = office.service.verify_audit(ADMIN)
    assert not report.ok
    assert report.first_bad_seq == max(checkpoint_seqs(office.service)) + 1 == k
    assert any("没有签名检查点" in problem for problem in report.problems)


@pytest.mark.parametrize("db_kind", ["sqlite"])  # PostgreSQL's column types refuse such values
@pytest.mark.parametrize(("column", "value"), [("payload", "{broken"), ("at", "garbage")])
def test_an_unreadable_stored_value_is_reported_not_raised(office, history, column, value):
    k = len(chain(office.service)) // 2
    execute(office.service,
            (f"UPDATE audit_event SET {column} = :value WHERE seq = :k", {"value": value, "k": k}))
    report = office.service.verify_audit(ADMIN)
    assert (report.ok, report.first_bad_seq) == (False, k)


def test_a_cut_tail_is_found_while_its_checkpoints_remain(office, history):
    # Deleting the last events together with their checkpoints cannot be told apart from a
    # shorter history: that case is not detectable by design and is not tested here.
    rows = chain(office.service)
    head = len(rows)
    execute(office.service, ("DELETE FROM audit_event WHERE seq > :keep", {"keep": head - 3}))
    report = office.service.verify_audit(ADMIN)
    assert not report.ok
    assert report.head_seq == head - 3
    assert report.first_bad_seq == head - 2
    assert any("截断" in problem for problem in report.problems)


def test_events_appended_without_a_checkpoint_are_found(office, history):
    rows = chain(office.service)
    last = rows[-1]
    forged = {**last, "seq": last["seq"] + 1, "reason": "伪造的记录", "prev_hash": last["hash"]}
    forged["hash"] = event_hash(last["hash"], forged)
    with office.service.db.engine.begin() as conn:
        conn.execute(AUDIT_EVENT.insert(), forged)
    report = office.service.verify_audit(ADMIN)
    assert not report.ok
    assert report.first_bad_seq == last["seq"] + 1
    assert any("没有签名检查点" in problem for problem in report.problems)


# -- keys ---------------------------------------------------------------------------------------

def test_verifying_with_another_key_reports_the_other_key(office, history, settings, clock,
                                                          tmp_path):
    other_key = tmp_path / "other" / "audit.key"
    assert ensure_key(other_key)
    other = build_service(replace(settings, audit_key_path=other_key), clock)
    try:
        report = other.verify_audit()  # as `duban audit verify` does: nobody identified
        with pytest.raises(IntegrityFailure, match="另一把密钥"):  # the directory's seal
            other.item(ADMIN, 1)
    finally:
        other.close()
    assert not report.ok
    assert report.first_bad_seq == checkpoint_seqs(office.service)[0]
    assert report.rows_checked == len(chain(office.service))
    assert "另一把密钥" in report.problems[0]
    assert office.service.verify_audit(ADMIN).ok


def test_a_rewritten_chain_resigned_with_another_key_is_found(office, history):
    rows = chain(office.service)
    k = next(row["seq"] for row in rows if row["event"] == "exempt")
    rewrite_chain_from(office.service, k, "改写")
    forger = Signer(bytes(range(32)))
    rewritten = chain(office.service)[k - 1:]
    with office.service.db.engine.begin() as conn:
        for row in rewritten:
            message = checkpoint_message(row["seq"], row["hash"])
            conn.execute(
                update(AUDIT_CHECKPOINT).where(AUDIT_CHECKPOINT.c.seq == row["seq"])
                .values(head_hash=row["hash"], key_id=forger.key_id,
                        signature=forger.sign(message))
            )
    report = office.service.verify_audit(ADMIN)
    assert not report.ok
    assert report.first_bad_seq == k
    assert f"检查点 {k} 由另一把密钥({forger.key_id})签名" in report.problems[0]


def test_a_forged_signature_under_the_right_key_id_is_found(office, history):
    k = len(chain(office.service)) // 2
    execute(office.service, ("UPDATE audit_checkpoint SET signature = :sig WHERE seq = :k",
                             {"sig": "0" * 64, "k": k}))
    report = office.service.verify_audit(ADMIN)
    assert (report.ok, report.first_bad_seq) == (False, k)
    assert "签名无效" in report.problems[0]


# -- refusals ---------------------------------------------------------------------------------

REFUSALS = {
    "wrong_role": ("zhao", "sign", {}, Refused, "无权"),  # sees the item, may not sign it
    "wrong_state": ("wang", "report", {"report": "已完成"}, Refused, "不能报结"),
    "missing_reason": ("wang", "decline", {}, InvalidInput, "理由"),
    "guard": ("zhao", "transfer", {"unit": "JJK", "reason": "x"}, Refused, "相同"),
    "bad_level": ("zhao", "warn", {"level": "orange", "reason": "x"}, InvalidInput, "yellow"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_a_refused_attempt_is_recorded_and_changes_nothing(office, case):
    actor, event, values, error, words = REFUSALS[case]
    item_id = office.item()
    office.fire("zhao", item_id, "warn", level="yellow", reason="提醒")
    before = office.service.item(ADMIN, item_id)
    history_before = office.service.history(ADMIN, item_id)
    with pytest.raises(error, match=words) as caught:
        office.fire(actor, item_id, event, **values)
    assert office.service.item(ADMIN, item_id) == before
    history_after = office.service.history(ADMIN, item_id)
    assert history_after[:-1] == history_before
    refused = history_after[-1]
    assert refused["action"] == "refused"
    assert (refused["actor"], refused["event"], refused["item_id"]) == (actor, event, item_id)
    assert refused["reason"] == str(caught.value) == caught.value.message
    assert refused["payload"] == {"kind": error.__name__}
    assert (refused["from_state"], refused["to_state"]) == (None, None)
    assert office.service.verify_audit(ADMIN).ok
    assert office.service.check_rebuild(ADMIN).ok


def test_each_refusal_of_a_series_is_kept_in_order(office):
    item_id = office.item()
    attempts = [("zhao", "sign", {}), ("wang", "report", {"report": "x"}),
                ("wang", "decline", {}), ("chen", "sign", {})]
    messages = []
    for actor, event, values in attempts:
        with pytest.raises((Refused, InvalidInput)) as caught:
            office.fire(actor, item_id, event, **values)
        messages.append((actor, event, caught.value.message))
    history = office.service.history(ADMIN, item_id)
    assert [(e["actor"], e["event"], e["reason"]) for e in history if e["action"] == "refused"] \
        == messages
    assert office.service.item(ADMIN, item_id)["version"] == 1


def test_a_refusal_echoing_a_nul_character_is_still_recorded(office):
    item_id = office.item()
    with pytest.raises(InvalidInput) as caught:
        office.fire("zhao", item_id, "transfer", unit="J\x00K", reason="转办")
    last = item_events(office.service, item_id)[-1]
    assert (last["action"], last["event"]) == ("refused", "transfer")
    assert last["reason"] == caught.value.message


def every_row_but_the_audit(service: Service) -> dict[str, list]:
    from duban.engine.models import METADATA

    kept = {"audit_event", "audit_checkpoint", "directory_generation"}
    with service.db.engine.connect() as conn:
        return {name: sorted(map(repr, conn.execute(select(table)).all()))
                for name, table in METADATA.tables.items() if name not in kept}


def test_a_thousand_huge_refusals_write_nothing_else_and_stay_small(office):
    from duban.engine.errors import MAX_MESSAGE
    from duban.engine.items import NewItem

    item_id = office.item()
    huge = "长" * 100_000
    attempts = [
        lambda: office.service.new_item("zhao", NewItem(title=huge, lead_unit="JJK",
                                                        deadline="10 workdays")),
        lambda: office.service.new_item("zhao", NewItem(title="x", lead_unit=huge,
                                                        deadline="10 workdays")),
        lambda: office.service.new_item("zhao", NewItem(title="x", lead_unit="JJK",
                                                        deadline=huge)),
        lambda: office.service.new_item("zhao", NewItem(title="x", lead_unit="JJK",
                                                        deadline="10 workdays",
                                                        source=huge)),
        lambda: office.fire("zhao", item_id, "transfer", unit=huge, reason=huge),
        lambda: office.fire("wang", item_id, "report", report=huge),
        lambda: office.service.item(huge, item_id),
    ]
    before = every_row_but_the_audit(office.service)
    events_before = len(chain(office.service))
    for n in range(1000):
        with pytest.raises((Refused, InvalidInput, NotFound)) as caught:
            attempts[n % len(attempts)]()
        assert len(caught.value.message) <= MAX_MESSAGE + 30
    assert every_row_but_the_audit(office.service) == before
    added = chain(office.service)[events_before:]
    assert len(added) == 1000 and {row["action"] for row in added} == {"refused"}
    stored = sum(len(row["reason"] or "") + len(json.dumps(row["payload"])) + len(row["actor"])
                 for row in added)
    assert stored <= 1000 * 400, stored  # every echo of the 100 KB values is cut short
    assert office.service.verify_audit(ADMIN).ok


# -- rebuilding items from their events -------------------------------------------------------

def test_rebuild_matches_a_rich_history(office, history):
    report = office.service.check_rebuild(ADMIN)
    assert report.ok, report.mismatches
    assert report.items_checked == len(history["items"])
    for item_id in history["items"]:
        assert office.service.check_rebuild(ADMIN, item_id).ok


@pytest.mark.parametrize(("column", "value"), [
    ("state", "closed"),
    ("lead_unit", "SYZ"),
    ("attrs", "{}"),
    ("title", "被悄悄改名"),
])
def test_rebuild_names_an_item_edited_behind_the_engine(office, history, column, value):
    target = history["items"][1]
    execute(office.service,
            (f"UPDATE item SET {column} = :value WHERE id = :id", {"value": value, "id": target}))
    report = office.service.check_rebuild(ADMIN)
    assert not report.ok
    assert report.items_checked == len(history["items"])
    assert report.mismatches == [f"事项 {target} 的 {column} 与审计记录重放结果不符"]
    assert not office.service.check_rebuild(ADMIN, target).ok
    for other in set(history["items"]) - {target}:
        assert office.service.check_rebuild(ADMIN, other).ok
    assert office.service.verify_audit(ADMIN).ok  # the chain itself is untouched


def test_rebuild_names_a_deleted_item_and_an_item_without_a_creation_record(office, history):
    a, b, c = history["items"]
    execute(
        office.service,
        ("DELETE FROM timer WHERE item_id = :id", {"id": c}),
        ("DELETE FROM delivery WHERE notice_id IN (SELECT id FROM notice WHERE item_id = :id)",
         {"id": c}),
        ("DELETE FROM notice WHERE item_id = :id", {"id": c}),
        ("DELETE FROM item WHERE id = :id", {"id": c}),
        ("DELETE FROM audit_event WHERE item_id = :id AND action = 'created'", {"id": b}),
    )
    report = office.service.check_rebuild(ADMIN)
    assert report.items_checked == 2
    assert report.mismatches == [f"事项 {b} 没有创建记录",
                                 f"事项 {c} 有审计记录, 但数据库中已不存在"]
    assert office.service.check_rebuild(ADMIN, a).ok


# -- the command line -------------------------------------------------------------------------

def cli_env(key_path: Path, tmp_path: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("DUBAN_")}
    env.update(DUBAN_AUDIT_KEY=str(key_path), DUBAN_CONFIG=str(tmp_path / "absent.toml"),
               PYTHONPATH=str(ROOT))
    return env


def run_cli(db_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "duban.cli", "--db", str(db_path), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )


def test_cli_audit_verify_exits_0_when_clean_and_6_after_tampering(tmp_path, sqlite_template):
    db_path = tmp_path / "office.db"
    shutil.copy(sqlite_template, db_path)
    key_path = tmp_path / "keys" / "audit.key"
    clock = FixedClock(START)
    service = build_service(Settings(db_url=f"sqlite:///{db_path}", audit_key_path=key_path), clock)
    try:
        service.init(ADMIN, "管理员")
        office = build_office(service, clock)
        item_id = office.item()
        office.fire("wang", item_id, "sign")
        office.fire("wang", item_id, "report", report="已完成")
        head = len(chain(service))
    finally:
        service.close()
    env = cli_env(key_path, tmp_path)

    clean = run_cli(db_path, env, "audit", "verify")
    assert clean.returncode == 0, clean.stderr
    assert "审计链完整" in clean.stdout
    assert f"已校验 {head} 条事件" in clean.stdout

    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE audit_event SET reason = '改过' WHERE seq = ?", (head - 1,))
    conn.close()
    as_text = run_cli(db_path, env, "audit", "verify")
    as_json = run_cli(db_path, env, "audit", "verify", "--json")
    assert as_text.returncode == 6, as_text.stderr
    assert f"最早出错序号: {head - 1}" in as_text.stdout
    assert as_json.returncode == 6, as_json.stderr
    assert json.loads(as_json.stdout)["first_bad_seq"] == head - 1


# -- concurrent writers -----------------------------------------------------------------------

FIRES_PER_WRITER = 25
REFUSALS_PER_WRITER = 5
# (actor, unit of the item, event, values): each writer fires on its own item.
WRITERS = (
    ("wang", "JJK", "progress", {"note": "进展顺利"}),
    ("zheng", "AQK", "progress", {"note": "正在整改"}),
    ("lin", "SYZ", "progress", {"note": "已落实"}),
    ("zhao", "JJK", "warn", {"level": "yellow", "reason": "进展偏慢"}),
)


def test_concurrent_writers_keep_one_unbroken_chain(office, settings, clock):
    items = []
    for actor, unit, _, _ in WRITERS:
        item_id = office.item(unit=unit)
        office.fire("zhou" if actor == "zhao" else actor, item_id, "sign")
        items.append(item_id)
    head_before = len(chain(office.service))
    checkpoints_before = len(checkpoint_seqs(office.service))
    start = threading.Barrier(len(WRITERS) + 1)
    errors: list[BaseException] = []

    def write(index: int) -> None:
        actor, _, event, values = WRITERS[index]
        service = build_service(settings, clock)
        try:
            start.wait(timeout=60)
            for n in range(FIRES_PER_WRITER):
                service.fire(actor, items[index], event, values)
                if n % (FIRES_PER_WRITER // REFUSALS_PER_WRITER) == 0:
                    try:
                        service.fire("zhao", items[index], "sign", {})
                    except Refused:
                        pass
        except BaseException as err:  # collected and reported by the test thread
            errors.append(err)
        finally:
            service.close()

    threads = [threading.Thread(target=write, args=(i,)) for i in range(len(WRITERS))]
    for thread in threads:
        thread.start()
    with writers_held(office.service):  # every writer's first append must wait, then queue
        start.wait(timeout=60)
        time.sleep(0.3)
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []

    per_writer = FIRES_PER_WRITER + REFUSALS_PER_WRITER
    notices = sum(1 for i in items for e in office.service.history(ADMIN, i)
                  if e["action"] == "notice" and e["seq"] > head_before)  # warnings' notices
    expected = head_before + len(WRITERS) * per_writer + notices
    rows = chain(office.service)
    assert [row["seq"] for row in rows] == list(range(1, expected + 1))
    assert len(checkpoint_seqs(office.service)) == checkpoints_before + len(WRITERS) * per_writer
    report = office.service.verify_audit(ADMIN)
    assert report.ok, report.problems
    assert (report.rows_checked, report.head_seq) == (expected, expected)
    for (_, _, event, _), item_id in zip(WRITERS, items, strict=True):
        assert office.service.item(ADMIN, item_id)["version"] == 2 + FIRES_PER_WRITER
        actions = [(e["action"], e["event"]) for e in item_events(office.service, item_id)]
        assert actions.count(("event", event)) == FIRES_PER_WRITER
        assert actions.count(("refused", "sign")) == REFUSALS_PER_WRITER
    assert office.service.check_rebuild(ADMIN).ok


WRITER_SCRIPT = """
import sys, time
from pathlib import Path
from datetime import datetime
from duban.app import build_service
from duban.engine.clock import FixedClock
from duban.engine.settings import Settings

url, key, item_id, actor, count, go = sys.argv[1:7]
service = build_service(Settings(db_url=url, audit_key_path=Path(key)),
                        FixedClock(datetime.fromisoformat(sys.argv[7])))
service.item(actor, int(item_id))
print("ready", flush=True)
while not Path(go).exists():
    time.sleep(0.005)
for _ in range(int(count)):
    service.fire(actor, int(item_id), "progress", {"note": "并发进展"})
service.close()
"""


@pytest.mark.parametrize("db_kind", ["sqlite"])  # processes sharing one file: SQLite only
def test_two_processes_write_one_sqlite_file_without_locking_errors(office, settings, tmp_path):
    first, second = office.item(), office.item(unit="AQK")
    office.fire("wang", first, "sign")
    office.fire("zheng", second, "sign")
    head_before = len(chain(office.service))
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER_SCRIPT, settings.db_url, str(settings.audit_key_path),
             str(item_id), actor, str(FIRES_PER_WRITER), str(go), START.isoformat()],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for item_id, actor in ((first, "wang"), (second, "zheng"))
    ]
    try:
        for child in children:
            assert child.stdout.readline().strip() == "ready"
        with writers_held(office.service):  # both children find the file locked, and wait
            go.touch()
            time.sleep(0.5)
        outcomes = [child.communicate(timeout=120) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    for child, (_, stderr) in zip(children, outcomes, strict=True):
        assert "locked" not in stderr
        assert child.returncode == 0, stderr
    expected = head_before + 2 * FIRES_PER_WRITER
    assert [row["seq"] for row in chain(office.service)] == list(range(1, expected + 1))
    report = office.service.verify_audit(ADMIN)
    assert report.ok, report.problems
    assert report.rows_checked == expected
    for item_id in (first, second):
        assert office.service.item(ADMIN, item_id)["version"] == 2 + FIRES_PER_WRITER


# -- two people, one item, one state ----------------------------------------------------------

def test_the_second_of_two_from_the_same_version_gets_a_conflict(office):
    item_id = office.item()
    seen = office.service.item(ADMIN, item_id)
    signed = office.service.fire("wang", item_id, "sign", {}, expected_version=seen["version"])
    stored, history = office.service.item(ADMIN, item_id), office.service.history(ADMIN, item_id)
    with pytest.raises(Conflict, match="刚被他人改动"):
        office.service.fire("zhou", item_id, "sign", {}, expected_version=seen["version"])
    after = office.service.item(ADMIN, item_id)
    assert after == stored
    assert (after["version"], after["attrs"]["owner"]) == (signed["version"], "wang")
    assert office.service.history(ADMIN, item_id) == history


def test_two_people_racing_on_one_item_one_wins_one_conflicts(office, settings, clock):
    rounds = 5
    items = [office.item() for _ in range(rounds)]
    for item_id in items:
        start = threading.Barrier(2)
        outcomes: dict[str, object] = {}

        def attempt(actor: str, item_id: int = item_id, start: threading.Barrier = start,
                    outcomes: dict = outcomes) -> None:
            service = build_service(settings, clock)
            try:
                service.item(ADMIN, item_id)
                start.wait(timeout=60)
                outcomes[actor] = service.fire(actor, item_id, "sign", {}, expected_version=1)
            except Exception as err:  # the loser's Conflict is the expected outcome
                outcomes[actor] = err
            finally:
                service.close()

        racers = [threading.Thread(target=attempt, args=(actor,)) for actor in ("wang", "zhou")]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join(timeout=60)
        winners = [actor for actor, result in outcomes.items() if isinstance(result, dict)]
        losers = [result for result in outcomes.values() if not isinstance(result, dict)]
        assert len(winners) == 1 and len(losers) == 1, outcomes
        assert isinstance(losers[0], Conflict)
        item = office.service.item(ADMIN, item_id)
        assert (item["state"], item["version"], item["attrs"]["owner"]) == (
            "in_progress", 2, winners[0])
        signs = [e for e in office.service.history(ADMIN, item_id) if e["event"] == "sign"]
        assert [e["action"] for e in signs] == ["event"]
    assert office.service.verify_audit(ADMIN).ok
    assert office.service.check_rebuild(ADMIN).ok


def test_a_stale_version_is_a_conflict_before_any_state_check(office):
    item_id = office.item()
    office.fire("wang", item_id, "sign")
    office.fire("wang", item_id, "report", report="已完成")
    version = office.service.item(ADMIN, item_id)["version"]
    office.clock.set(local("2026-11-10 10:00"))
    office.service.fire("zhao", item_id, "reject", {"reason": "不实", "deadline": "2026-11-25"},
                        expected_version=version)
    with pytest.raises(Conflict):
        office.service.fire("zhao", item_id, "verify", {}, expected_version=version)
    assert office.service.item(ADMIN, item_id)["state"] == "in_progress"


# -- long histories are read page by page -----------------------------------------------------

@pytest.mark.parametrize("page_size", [1, 2, 7])
def test_small_pages_give_the_same_verdicts(office, history, monkeypatch, page_size):
    monkeypatch.setattr("engine.audit.PAGE_SIZE", page_size)
    monkeypatch.setattr("engine.rebuild.PAGE_SIZE", page_size)
    rows = chain(office.service)
    clean = office.service.verify_audit(ADMIN)
    assert clean.ok, clean.problems
    assert (clean.rows_checked, clean.head_seq) == (len(rows), len(rows))
    assert clean.checkpoints_checked == len(checkpoint_seqs(office.service))
    assert office.service.check_rebuild(ADMIN).ok

    k = len(rows) // 2
    execute(office.service, ("DELETE FROM audit_event WHERE seq = :k", {"k": k}))
    assert office.service.verify_audit(ADMIN).first_bad_seq == k
