"""The audit chain's hash schemes: the events written before revision 0010 (version 1) keep
verifying beside those written since (version 2, the stored text hashed), on SQLite and on
PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import JSON, bindparam, select, text

from duban.app import build_service
from duban.engine import audit_verify
from duban.engine.audit import at_text, canonical, checkpoint_message, event_hash
from duban.engine.db import Database
from duban.engine.json_text import canonical_text
from duban.engine.models import AUDIT_CHECKPOINT, AUDIT_EVENT
from duban.engine.schema import MIGRATIONS, SCHEMA_REVISION
from duban.engine.service import Service
from duban.engine.settings import Settings
from duban.engine.signing import ensure_key, load_signer
from duban.engine.timeutil import UTCDateTime
from tests.conftest import ADMIN, START, build_office, new_database_url

PREV = "ab" * 32
EVENT = {
    "seq": 7, "at": datetime(2026, 11, 2, 1, 0, 0, 250000, tzinfo=UTC), "actor": "zhao",
    "item_id": 3, "action": "event", "event": "warn", "from_state": "in_progress",
    "to_state": "in_progress", "reason": '进展偏慢, "需加快"',
    "payload": {"values": {"level": "yellow", "note": "第二次\n提醒"},
                "changes": {"version": [2, 3]}},
}


# -- the schemes ------------------------------------------------------------------------------

def test_version_1_is_the_hash_the_code_before_revision_0010_wrote():
    # computed with event_hash of engine/audit.py as it was at revision 0009
    before = "dda05662f2024f1e953b473133989f324ae959bd7e16ad3e9b8cc84b0f993be7"
    assert event_hash(PREV, EVENT) == before  # a row that names no scheme is of version 1
    assert event_hash(PREV, {**EVENT, "hash_version": 1}) == before


def test_version_2_hashes_the_fields_as_stored_one_after_another():
    head = ('[2,7,"2026-11-02T01:00:00.250000+00:00","zhao",3,"event","warn","in_progress",'
            '"in_progress","进展偏慢, \\"需加快\\""]')
    payload = '{"changes":{"version":[2,3]},"values":{"level":"yellow","note":"第二次\\n提醒"}}'
    assert canonical_text(EVENT["payload"]) == payload
    expected = hashlib.sha256((PREV + head + payload).encode()).hexdigest()
    assert expected == "3ad7ba1a82e69466e5b85f073d726da1daa7e3b86d8c8aba850aea86b45e2c9f"
    assert event_hash(PREV, {**EVENT, "hash_version": 2}) == expected
    assert event_hash(PREV, {**EVENT, "hash_version": 2, "payload": payload}) == expected


def test_the_instant_hashed_is_the_same_from_either_database():
    hashed = "2026-11-02T01:00:00.250000+00:00"
    assert at_text(EVENT["at"]) == hashed  # as written
    assert at_text("2026-11-02 01:00:00.250000") == hashed  # SQLite's stored text
    assert at_text(datetime(2026, 11, 2, 1, 0, 0, 250000)) == hashed  # PostgreSQL's timestamp
    assert at_text(EVENT["at"].astimezone(START.tzinfo)) == hashed
    assert at_text("2026-11-02 01:00:00") == "2026-11-02T01:00:00.000000+00:00"
    assert at_text("garbage") is None and at_text(5) is None


def test_the_engine_stores_the_payload_text_it_hashed_and_reads_back_dicts(office):
    item_id = office.item()
    office.fire("wang", item_id, "sign")
    office.fire("wang", item_id, "progress", note='已完成"一半", 继续推进')
    with office.service.db.engine.connect() as conn:
        row = conn.execute(select(AUDIT_EVENT).where(AUDIT_EVENT.c.event == "progress")
                           ).mappings().one()
        stored = conn.execute(text("SELECT CAST(payload AS TEXT) FROM audit_event "
                                   "WHERE seq = :seq"), {"seq": row["seq"]}).scalar()
    assert row["hash_version"] == 2
    assert isinstance(row["payload"], dict)
    assert row["payload"]["values"] == {"note": '已完成"一半", 继续推进'}
    assert stored == canonical_text(row["payload"])
    assert '"note":"已完成\\"一半\\", 继续推进"' in stored  # UTF-8, compact, sorted keys
    assert row["hash"] == event_hash(row["prev_hash"], {**row, "payload": stored})
    history = office.service.history(ADMIN, item_id)
    assert history[-1]["payload"]["values"]["note"] == '已完成"一半", 继续推进'


# -- a database written before revision 0010, upgraded ------------------------------------------

# Transactions as the code of revision 0009 wrote them: (action, item, states, reason, payload).
OLD_HISTORY = (
    [("schema_upgraded", None, None, None, {"from": None, "to": "0009"})],
    [("unit_added", None, None, None,
      {"unit": {"code": code, "name": name, "parent_code": None, "created_at": START}})
     for code, name in (("JJK", "基础教育科"), ("AQK", "安全稳定科"), ("SYZ", "市第一中学"))],
    [("created", 901, (None, "assigned"), None,
      {"item": {"id": 901, "title": "校园安全隐患排查", "co_units": [], "version": 1,
                "current_deadline": START + timedelta(days=18), "attrs": {"owner": None}}})],
    [("event", 901, ("assigned", "in_progress"), None,
      {"values": {}, "changes": {"state": ["assigned", "in_progress"], "version": [1, 2]}}),
     ("notice", 901, None, None, {"kind": "assigned", "recipients": ["wang"]})],
    [("refused", 901, None, "无权签收: 不是本单位的承办人", {})],
    [("event", 901, ("in_progress", "in_progress"), '进展偏慢, "需加快"',
      {"values": {"level": "yellow", "reason": '进展偏慢, "需加快"'}, "changes": {}})],
)

OLD_INSERT = text(
    "INSERT INTO audit_event (seq, at, actor, item_id, action, event, from_state, to_state, "
    "reason, payload, prev_hash, hash) VALUES (:seq, :at, :actor, :item_id, :action, :event, "
    ":from_state, :to_state, :reason, :payload, :prev_hash, :hash)"
).bindparams(bindparam("at", type_=UTCDateTime()), bindparam("payload", type_=JSON()))


@pytest.fixture
def empty_url(db_kind, tmp_path, request) -> str:
    """A database without any table (the tests' template is migrated already)."""
    return new_database_url(db_kind, tmp_path, request, migrated=False)


def write_as_revision_0009(url: str, key: Path) -> int:
    """Migrate to 0009 and append OLD_HISTORY as that code did: each event hashed as a JSON
    object of the decoded event, the payload stored as the plain JSON type serialised it, one
    signed checkpoint per transaction. Returns the head sequence."""
    from alembic import command
    from alembic.config import Config

    ensure_key(key)
    signer = load_signer(key)
    database = Database(url, create=True)
    seq, prev_hash = 0, "0" * 64
    with database.write() as conn:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        command.upgrade(config, "0009")
        for number, transaction in enumerate(OLD_HISTORY):
            at = START + timedelta(minutes=number)
            for action, item_id, states, reason, payload in transaction:
                seq += 1
                row = {"seq": seq, "at": at, "actor": "zhao" if item_id else ADMIN,
                       "item_id": item_id, "action": action,
                       "event": "sign" if action in ("event", "refused") else None,
                       "from_state": states and states[0], "to_state": states and states[1],
                       "reason": reason, "payload": canonical(payload), "prev_hash": prev_hash}
                row["hash"] = prev_hash = event_hash(prev_hash, row)
                conn.execute(OLD_INSERT, row)
            conn.execute(AUDIT_CHECKPOINT.insert(), {
                "seq": seq, "head_hash": prev_hash, "at": at, "key_id": signer.key_id,
                "signature": signer.sign(checkpoint_message(seq, prev_hash))})
    database.dispose()
    return seq


def stored(service: Service, seq: int) -> tuple[int, str]:
    with service.db.engine.connect() as conn:
        return tuple(conn.execute(text(
            "SELECT hash_version, CAST(payload AS TEXT) FROM audit_event WHERE seq = :seq"),
            {"seq": seq}).one())


def both_walks(service: Service) -> dict:
    """The report of ``duban audit verify``, checked against the walk in two processes."""
    report = service.verify_audit()
    with service.db.read() as conn:
        parallel = audit_verify.verify(conn, service.signer, url=service.db.url, workers=2,
                                       parallel_from=1, ranges=5, page_size=4)
    assert parallel.__dict__ == report.__dict__
    return report.__dict__


def test_a_chain_of_version_1_upgraded_and_continued_in_version_2_verifies(empty_url,
                                                                          tmp_path, clock):
    key = tmp_path / "keys" / "audit.key"
    old_head = write_as_revision_0009(empty_url, key)
    service = build_service(Settings(db_url=empty_url, audit_key_path=key), clock)
    try:
        result = service.init(ADMIN, "管理员")
        assert (result.schema_before, result.schema_after) == ("0009", SCHEMA_REVISION)
        office = build_office(service, clock)
        item_id = office.item()
        office.fire("wang", item_id, "sign")
        office.fire("wang", item_id, "progress", note="已完成一半")
        with service.db.engine.connect() as conn:
            versions = conn.execute(select(AUDIT_EVENT.c.hash_version)
                                    .order_by(AUDIT_EVENT.c.seq)).scalars().all()
        assert versions[:old_head] == [1] * old_head
        assert set(versions[old_head:]) == {2} and len(versions) > old_head + 20
        # the old rows are left as they were written: JSON as the plain type serialised it
        version, old_text = stored(service, 2)
        assert version == 1 and '"name": "\\u57fa\\u7840\\u6559\\u80b2\\u79d1"' in old_text

        clean = both_walks(service)
        assert (clean["problems"], clean["first_bad_seq"]) == ([], None)
        assert clean["rows_checked"] == clean["head_seq"] == len(versions)

        old_k = 6  # OLD_HISTORY's first item event, the first of a transaction of two
        new_k = next(seq for seq in range(len(versions), old_head, -1)
                     if "values" in json.loads(stored(service, seq)[1]))
        version, new_text = stored(service, new_k)
        respaced = json.dumps(json.loads(new_text), ensure_ascii=False)  # the same JSON, spaced
        assert version == 2 and respaced != new_text
        tamperings = [  # (seq, what is changed, to what, back)
            (old_k, "reason", "改过", None),
            (old_k, "hash_version", 2, 1),
            (new_k, "reason", "改过", None),
            (new_k, "payload", respaced, new_text),
            (new_k, "hash_version", 1, 2),
        ]
        for k, column, value, original in tamperings:
            change = f"UPDATE audit_event SET {column} = :value WHERE seq = :k"
            with service.db.engine.begin() as conn:
                conn.execute(text(change), {"k": k, "value": value})
            found = both_walks(service)
            assert found["first_bad_seq"] == k, (column, found["problems"])
            assert found["problems"] == [f"事件 {k} 的内容与其哈希不符(被改动)"], column
            with service.db.engine.begin() as conn:
                conn.execute(text(change), {"k": k, "value": original})
            assert both_walks(service) == clean, column
        assert stored(service, new_k) == (2, new_text)
    finally:
        service.close()
