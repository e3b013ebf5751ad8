"""Anchors: the audit head kept outside the database catches what the chain alone cannot see, a
tail cut with its checkpoints and a chain rebuilt under a new key; the daemon anchors daily."""

from __future__ import annotations

import hashlib
import json
import stat
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import delete, insert, select, text

from duban.app import build_service
from duban.app.daemon import DailyAnchor, refresh_board
from duban.engine import seals
from duban.engine.anchor import ACTION, AnchorPlaces, read_anchors
from duban.engine.audit import GENESIS_HASH, AuditWriter, checkpoint_message, event_hash
from duban.engine.errors import InvalidInput, SetupError
from duban.engine.models import AUDIT_CHECKPOINT, AUDIT_EVENT
from duban.engine.service import Service
from duban.engine.signing import Signer, ensure_key
from tests.conftest import ADMIN, local
from tests.engine.test_audit import chain, checkpoint_seqs, rich_history

# -- helpers ----------------------------------------------------------------------------------


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def more_events(office, count: int = 3) -> None:
    item_id = office.item(title="补充事项")
    office.fire("wang", item_id, "sign")
    for _ in range(count):
        office.fire("wang", item_id, "progress", note="继续推进")


def cut_tail_above(service: Service, seq: int) -> None:
    """Delete events and checkpoints above ``seq``, behind the engine's back."""
    with service.db.engine.begin() as conn:
        conn.execute(delete(AUDIT_CHECKPOINT).where(AUDIT_CHECKPOINT.c.seq > seq))
        conn.execute(delete(AUDIT_EVENT).where(AUDIT_EVENT.c.seq > seq))


def new_key_service(spawn, service: Service, tmp_path: Path) -> Service:
    """The same database, pointed at a key made afresh: what a forger re-signs with."""
    key = tmp_path / "forged" / "audit.key"
    ensure_key(key)
    return spawn(replace(service.settings, audit_key_path=key))


def rebuild_fresh(service: Service, forged: Signer, events: int) -> None:
    """Replace the whole chain with ``events`` new ones, sealed under the forger's key."""
    with service.db.engine.begin() as conn:
        conn.execute(delete(AUDIT_CHECKPOINT))
        conn.execute(delete(AUDIT_EVENT))
        writer = AuditWriter(conn, forged, serialize=False)
        for number in range(events):
            writer.append(at=local("2026-11-02 09:00"), actor="admin", action="edited",
                          reason=f"重建 {number}")
        writer.seal(local("2026-11-02 09:00"))
        seals.seal_everything(conn, forged)  # the forger re-signs the directory too


def rewrite_and_resign(service: Service, forged: Signer, seq: int) -> None:
    """Edit event ``seq``, recompute every hash after it and re-sign every checkpoint with the
    forger's key: inside the database the rewritten chain is whole."""
    with service.db.engine.begin() as conn:
        rows = [dict(row) for row in conn.execute(
            select(AUDIT_EVENT).order_by(AUDIT_EVENT.c.seq)).mappings()]
        prev_hash = GENESIS_HASH
        for row in rows:
            if row["seq"] == seq:
                row["reason"] = "改写的理由"
            row["prev_hash"], row["hash"] = prev_hash, event_hash(prev_hash, row)
            prev_hash = row["hash"]
        hashes = {row["seq"]: row["hash"] for row in rows}
        checkpoints = [dict(row) for row in conn.execute(select(AUDIT_CHECKPOINT)).mappings()]
        conn.execute(delete(AUDIT_CHECKPOINT))
        conn.execute(delete(AUDIT_EVENT))
        conn.execute(insert(AUDIT_EVENT), rows)
        conn.execute(insert(AUDIT_CHECKPOINT), [
            {**point, "head_hash": hashes[point["seq"]], "key_id": forged.key_id,
             "signature": forged.sign(checkpoint_message(point["seq"], hashes[point["seq"]]))}
            for point in checkpoints])
        seals.seal_everything(conn, forged)


def configured(spawn, service: Service, **audit) -> Service:
    """A second service on the same database whose settings file has an ``[audit]`` table."""
    board = audit.pop("board", None)
    tables = {**service.settings.tables, "audit": audit}
    if board is not None:
        tables["board"] = {"folder": board}
    return spawn(replace(service.settings, tables=tables))


@pytest.fixture
def spawn(clock):
    """Builds more services on the test's database (other settings), closed at the end."""
    built: list[Service] = []

    def build(settings) -> Service:
        built.append(build_service(settings, clock))
        return built[-1]

    yield build
    for service in built:
        service.close()


@pytest.fixture
def anchors(tmp_path) -> Path:
    return tmp_path / "elsewhere" / "anchors.jsonl"


# -- writing an anchor ------------------------------------------------------------------------

def test_an_anchor_is_the_signed_head_before_the_event_that_records_it(office, anchors):
    service = office.service
    head = chain(service)[-1]
    done = service.anchor_audit(ADMIN, to=anchors)

    [line] = lines(anchors)
    assert (line["seq"], line["hash"]) == (head["seq"], head["hash"])
    assert line["record"] == chain(service)[0]["hash"]
    statement = (f"duban-audit-anchor:{line['record']}:{line['seq']}:{line['hash']}:"
                 f"{line['at']}")
    assert line["sha256"] == hashlib.sha256(statement.encode()).hexdigest()
    assert service.signer.check(statement, line["signature"])
    assert line["key_id"] == service.signer.key_id
    assert done.anchor.as_dict() == line and done.file == anchors

    recorded = chain(service)[-1]
    assert (recorded["seq"], recorded["action"], recorded["actor"]) == (
        head["seq"] + 1, ACTION, ADMIN)
    assert recorded["payload"]["seq"] == head["seq"]
    assert recorded["payload"]["file"] == str(anchors)
    assert stat.S_IMODE(anchors.stat().st_mode) & 0o007 == 0  # nobody else reads it

    more_events(office)
    service.anchor_audit(to=anchors)  # the operator, like the daemon
    first, second = lines(anchors)
    assert first == line  # appended, the earlier line untouched
    assert second["seq"] > first["seq"]
    report = service.verify_anchors(anchors)
    assert (report.ok, report.anchors_checked) == (True, 2), report.problems


def test_the_chain_still_reaching_every_anchor_passes(office, anchors):
    rich_history(office)
    for _ in range(3):
        office.service.anchor_audit(to=anchors)
        office.clock.advance(days=1)
        more_events(office)
    assert office.service.verify_audit().ok
    report = office.service.verify_anchors(anchors, ADMIN)
    assert report.ok, report.problems
    assert report.anchors_checked == 3


def test_anchoring_needs_a_place(office):
    with pytest.raises(SetupError, match=r"--to"):
        office.service.anchor_audit()


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("table", "message"), [
    ({"anchro": "/x"}, "未知设置项: anchro"),
    ({"anchor": ""}, "应为锚点文件路径"),
    ({"anchor_board": "yes"}, "true 或 false"),
    ({"anchor_board": True}, "需要 \\[board\\] folder"),
])
def test_the_audit_settings_are_checked(service, table, message, spawn):
    with pytest.raises(SetupError, match=message):
        configured(spawn, service, **table).anchor_audit()


# -- what an anchor catches -------------------------------------------------------------------

def test_a_tail_cut_with_its_checkpoints_passes_verify_alone_but_not_the_anchor(office,
                                                                                anchors):
    service = office.service
    rich_history(office)
    anchored = service.anchor_audit(to=anchors).anchor.seq
    more_events(office)
    kept = max(seq for seq in checkpoint_seqs(service) if seq < anchored - 5)
    cut_tail_above(service, kept)

    # The point: inside the database nothing is missing.
    alone = service.verify_audit()
    assert alone.ok, alone.problems
    assert alone.head_seq == kept

    report = service.verify_anchors(anchors)
    assert not report.ok
    assert report.problems == [
        f"锚点 {anchors} 第 1 行(2026-11-02 09:00, 序号 {anchored}): "
        f"库中审计链只到序号 {kept}: 链尾被截断"]


def test_a_chain_rebuilt_under_a_new_key_is_caught(office, anchors, tmp_path, spawn):
    service = office.service
    rich_history(office)
    anchored = service.anchor_audit(to=anchors).anchor.seq
    forger = new_key_service(spawn, service, tmp_path)
    rebuild_fresh(service, forger.signer, events=anchored + 10)

    alone = forger.verify_audit()
    assert alone.ok, alone.problems  # every checkpoint checks out under the new key
    assert alone.head_seq > anchored  # and the chain is even longer than the anchored one

    [problem] = forger.verify_anchors(anchors).problems
    assert problem.startswith(f"锚点 {anchors} 第 1 行(2026-11-02 09:00, 序号 {anchored}): ")
    assert f"由另一把密钥({service.signer.key_id})签名" in problem
    assert "整条链被重建" in problem


def test_a_chain_rewritten_and_re_signed_with_a_new_key_is_caught(office, anchors, tmp_path, spawn):
    service = office.service
    rich_history(office)
    anchored = service.anchor_audit(to=anchors).anchor.seq
    forger = new_key_service(spawn, service, tmp_path)
    rewrite_and_resign(service, forger.signer, seq=anchored - 3)
    assert forger.verify_audit().ok

    [problem] = forger.verify_anchors(anchors).problems
    assert f"序号 {anchored})" in problem
    assert "由另一把密钥" in problem
    assert "该序号及之前的事件被改写" in problem
    # With the office's own key the rewrite shows inside the database too.
    assert not service.verify_audit().ok


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
def test_an_edited_anchor_line_does_not_check_out(office, anchors):
    service = office.service
    more_events(office)
    service.anchor_audit(to=anchors)
    line = lines(anchors)[0]
    line["seq"] -= 2  # an anchor moved back to before a deletion
    anchors.write_text(json.dumps(line) + "\n")
    [problem] = service.verify_anchors(anchors).problems
    assert "摘要与内容不符" in problem and "签名无效" in problem


# -- malformed anchor files -------------------------------------------------------------------

GOOD = {"format": "duban-audit-anchor/1", "record": "ab" * 32, "seq": 3, "hash": "cd" * 32,
        "at": "2026-11-02T01:00:00.000000+00:00", "key_id": "0123456789abcdef",
        "signature": "ef" * 32, "sha256": "01" * 32}


@pytest.mark.parametrize(("content", "message"), [
    (None, "不存在"),
    (b"", "中没有锚点"),
    (b"\n\n", "中没有锚点"),
    (b"not json\n", "第 1 行无法解读: 不是 JSON"),
    (b"\xff\xfe\n", "第 1 行无法解读: 不是 JSON"),
    (json.dumps(GOOD).encode() + b"\n[1, 2]\n", "第 2 行无法解读: 不是 duban-audit-anchor/1"),
    (json.dumps({**GOOD, "seq": "3"}).encode(), "第 1 行无法解读: seq 应为正整数"),
    (json.dumps({**GOOD, "seq": True}).encode(), "seq 应为正整数"),
    (json.dumps({k: v for k, v in GOOD.items() if k != "hash"}).encode(), "缺少 hash"),
    (json.dumps({**GOOD, "hash": "XYZ"}).encode(), "hash 应为十六进制"),
    (json.dumps({**GOOD, "at": "yesterday"}).encode(), "at 不是时间"),
    (json.dumps({**GOOD, "at": "2026-11-02T01:00:00"}).encode(), "at 缺少时区"),
])
def test_a_malformed_anchor_file_is_one_clear_message(tmp_path, content, message):
    path = tmp_path / "anchors.jsonl"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InvalidInput) as caught:
        read_anchors(path)
    assert message in caught.value.message
    assert str(path) in caught.value.message and "\n" not in caught.value.message


def test_a_torn_last_line_stays_apart_from_the_next_anchor(tmp_path):
    path = tmp_path / "anchors.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + json.dumps(GOOD)[:20])
    from duban.engine.anchor import Anchor, append_anchor

    append_anchor(path, Anchor(**{k: v for k, v in GOOD.items() if k != "format"}))
    assert len(path.read_text().splitlines()) == 3
    with pytest.raises(InvalidInput, match="第 2 行无法解读"):
        read_anchors(path)


# -- the daemon -------------------------------------------------------------------------------

def test_the_daemon_anchors_once_per_local_day(office, anchors, spawn):
    service = configured(spawn, office.service, anchor=str(anchors))
    clock = office.clock
    daily = DailyAnchor(service, AnchorPlaces(file=anchors))
    assert daily.run() is True
    clock.advance(hours=10)  # 19:00, the same day in Beijing
    more_events(office)
    assert daily.run() is False
    assert DailyAnchor(service, AnchorPlaces(file=anchors)).run() is False  # a restart
    # A manual anchor elsewhere does not stand for the day's anchor of the daemon's place...
    service.anchor_audit(to=anchors.with_name("manual.jsonl"))
    assert len(lines(anchors)) == 1

    clock.set(local("2026-11-03 00:05"))  # ...and the next local day brings the second line
    assert daily.run() is True
    assert daily.run() is False
    first, second = lines(anchors)
    assert second["seq"] > first["seq"]
    assert service.verify_anchors(anchors).ok


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
def test_the_daemon_keeps_the_latest_anchor_on_the_public_board(office, tmp_path, spawn):
    folder = tmp_path / "board"
    service = configured(spawn, office.service, anchor_board=True, board=str(folder))
    daily = DailyAnchor(service, AnchorPlaces(board=folder))
    assert daily.run() is False  # no board built yet: nothing to publish on, said in the log
    refresh_board(service, folder, None)
    assert daily.run() is True
    published = json.loads((folder / "anchor.json").read_text())
    assert published["seq"] == chain(service)[-2]["seq"]

    refresh_board(service, folder, "another generation")  # rebuilt whole, as on a change
    assert not (folder / "anchor.json").exists()
    assert daily.run() is False
    assert json.loads((folder / "anchor.json").read_text()) == published
    office.clock.advance(days=1)
    assert daily.run() is True
    assert json.loads((folder / "anchor.json").read_text())["seq"] > published["seq"]


def test_the_event_at_an_anchored_seq_is_looked_up_not_assumed(office, anchors):
    """A row deleted in the middle, at the anchored seq, behind a matching head."""
    service = office.service
    more_events(office)
    anchored = service.anchor_audit(to=anchors).anchor.seq
    more_events(office)
    with service.db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_event WHERE seq = :seq"), {"seq": anchored})
    [problem] = service.verify_anchors(anchors).problems
    assert "库中没有该序号的事件" in problem
    assert not service.verify_audit().ok



@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
def test_the_running_daemon_anchors_to_the_configured_file_each_day(office, settings, tmp_path,
                                                                   anchors):
    from tests.engine.test_daemon import cli_env, running_daemon, wait_for

    config = tmp_path / "duban.toml"
    config.write_text(f'[audit]\nanchor = "{anchors}"\n', encoding="utf-8")
    for count, now in enumerate(("2026-11-02 10:00", "2026-11-03 10:00"), start=1):
        env = {**cli_env(settings, tmp_path, now), "DUBAN_CONFIG": str(config)}
        with running_daemon(env, tmp_path / f"daemon-{count}.log", "--interval", "3600") as daemon:
            wait_for(lambda: anchors.exists() and len(lines(anchors)) == count,  # noqa: B023
                     f"anchor line {count}", daemon=daemon)
            assert daemon.stop() == 0, daemon.log()
        assert "审计链头已锚定" in daemon.log()
    assert len(lines(anchors)) == 2
    assert office.service.verify_anchors(anchors).ok
