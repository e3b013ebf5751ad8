"""Rows outside the chain that grant rights: a change made around the engine (plain SQL with
the database's password, no key) widens nobody's rights, and `audit verify` names it."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import insert, select, text, update

from duban.app import build_service
from duban.engine import accounts
from duban.engine.access import Bearer, Identity
from duban.engine.errors import IntegrityFailure, NotSignedIn, Refused
from duban.engine.models import ACCOUNT, META, TOKEN
from tests.conftest import ADMIN


def raw(service, statement, values=None) -> None:
    with service.db.engine.begin() as conn:
        conn.execute(text(statement) if isinstance(statement, str) else statement, values or {})


def actions(service) -> list[str]:
    with service.db.engine.connect() as conn:
        return list(conn.execute(text("SELECT action FROM audit_event ORDER BY seq")).scalars())


def fresh(service, settings, clock):
    """Another process on the same database (the CLI beside a server): no cache of its own."""
    return build_service(replace(settings, audit_key_path=service.settings.audit_key_path),
                         clock)


@pytest.mark.parametrize("statement", [
    "UPDATE person SET roles = '[\"admin\"]' WHERE login = 'wang'",  # granting admin
    "UPDATE person SET email = 'x@evil.example' WHERE login = 'wang'",  # an address
    "UPDATE unit SET head_login = 'wang' WHERE code = 'AQK'",  # a unit head
    "UPDATE person SET deputy_login = 'liu' WHERE login = 'zhou'",  # a deputy
])
def test_a_directory_row_changed_around_the_engine_stops_everyone_until_resealed(
        office, statement):
    service = office.service
    item_id = office.item()
    raw(service, statement)
    for actor in ("wang", ADMIN):
        with pytest.raises(IntegrityFailure, match="签名不符"):
            service.item(actor, item_id)
    report = service.verify_audit()
    assert not report.ok and any("人员目录" in p for p in report.problems)
    assert service.reseal("root") == {"directory": True, "tokens": [], "accounts": []}
    assert service.item("wang", item_id)["id"] == item_id
    assert service.verify_audit().ok
    assert actions(service).count("resealed") == 1
    assert service.reseal("root") is None  # nothing left to accept


def test_the_demo_flag_set_around_the_engine_opens_as_to_nobody(office, settings, clock):
    service = office.service
    raw(service, insert(META), {"key": "demo", "value": "true"})
    other = fresh(service, settings, clock)
    try:
        for process in (other, service):  # a new process, and one that read it before
            with pytest.raises(IntegrityFailure):  # not a demo: the seal says so
                process.me(Identity("wang", act_as=ADMIN))
    finally:
        other.close()
    assert "resealed" not in actions(service)  # nobody acted as the admin


def test_a_token_written_around_the_engine_lets_nobody_in(office):
    service = office.service
    real = service.create_token("zhao", "正常")["secret"]
    assert service.me(Bearer(real))["login"] == "zhao"
    forged = accounts.new_secret()
    row = {"login": ADMIN, "kind": "api", "name": "后门", "hash": accounts.digest(forged),
           "prefix": forged[4:12], "created_at": office.clock.now(),
           "expires_at": office.clock.now().replace(year=2030), "revoked_at": None,
           "seal": "0" * 64}
    raw(service, insert(TOKEN), row)
    with pytest.raises(NotSignedIn):
        service.me(Bearer(forged))
    raw(service, update(TOKEN).where(TOKEN.c.name == "正常").values(
        expires_at=office.clock.now().replace(year=2040)))  # lengthened by hand
    with pytest.raises(NotSignedIn):
        service.me(Bearer(real))
    report = service.verify_audit()
    assert any(p.startswith("令牌 1、2 ") for p in report.problems), report.problems
    found = service.reseal("root")
    assert found == {"directory": False, "tokens": [1, 2], "accounts": []}
    with pytest.raises(NotSignedIn):  # revoked, not accepted
        service.me(Bearer(forged))
    assert service.verify_audit().ok


def test_a_revoked_token_put_back_by_hand_stays_revoked(office):
    service = office.service
    made = service.create_token("zhao", "旧令牌")
    service.revoke_token("zhao", made["id"])
    raw(service, update(TOKEN).values(revoked_at=None))
    with pytest.raises(NotSignedIn):
        service.me(Bearer(made["secret"]))


def test_a_password_hash_replaced_by_hand_signs_nobody_in(office):
    service = office.service
    opened = service.issue_setup(ADMIN, "zhou", temporary=True)
    service.change_password("zhou", opened["secret"], "Zhou-新密码-2026")
    assert service.sign_in("zhou", "Zhou-新密码-2026").login == "zhou"
    raw(service, update(ACCOUNT).where(ACCOUNT.c.login == "zhou").values(
        password_hash=accounts.hash_password("attacker-password-1")))
    with pytest.raises(Refused):
        service.sign_in("zhou", "attacker-password-1")
    assert any(p.startswith("账户 zhou ") for p in service.verify_audit().problems)
    assert service.reseal("root")["accounts"] == ["zhou"]
    with service.db.engine.connect() as conn:
        cleared = conn.execute(select(ACCOUNT.c.password_hash)
                               .where(ACCOUNT.c.login == "zhou")).scalar()
    assert cleared is None  # a new set-up code lets the real person in again


def test_a_database_of_the_previous_schema_is_sealed_at_its_upgrade(tmp_path, clock):
    from alembic import command
    from alembic.config import Config

    from duban.engine.db import Database
    from duban.engine.schema import MIGRATIONS, SCHEMA_REVISION
    from duban.engine.settings import Settings

    url = f"sqlite:///{tmp_path / 'old.db'}"
    secret = accounts.new_secret()
    database = Database(url, create=True)
    with database.write() as conn:  # a database as revision 0008 made it: nothing sealed
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        command.upgrade(config, "0008")
        conn.execute(text(
            "INSERT INTO person (login, name, roles, active, created_at) VALUES "
            "('admin', '管理员', '[\"admin\"]', 1, '2026-01-05 01:00:00')"))
        conn.execute(text(
            "INSERT INTO token (login, kind, name, hash, prefix, created_at, expires_at) "
            "VALUES ('admin', 'api', '升级前', :hash, 'x', '2026-01-05 01:00:00', "
            "'2030-01-01 00:00:00')"), {"hash": accounts.digest(secret)})
    database.dispose()
    upgraded = build_service(Settings(db_url=url, audit_key_path=tmp_path / "key"), clock)
    try:
        result = upgraded.init(ADMIN)
        assert (result.schema_before, result.schema_after) == ("0008", SCHEMA_REVISION)
        assert upgraded.me(Bearer(secret))["login"] == ADMIN  # sealed, still valid
        assert upgraded.me(ADMIN)["admin"]
        assert upgraded.verify_audit().ok
        assert "sealed" in actions(upgraded)
        assert upgraded.init(ADMIN).schema_before == SCHEMA_REVISION  # a second init seals nothing
        assert actions(upgraded).count("sealed") == 1
    finally:
        upgraded.close()


def test_a_change_hidden_from_a_running_process_is_never_signed_by_it(office):
    """The generation set back by hand, so that a long-running process keeps its checked copy:
    its next directory change reads afresh, finds the seal broken and signs nothing."""
    service = office.service
    assert not service.me("wang")["admin"]  # this process now holds a checked directory
    with service.db.engine.begin() as conn:
        generation = conn.execute(text("SELECT value FROM directory_generation")).scalar()
        conn.execute(text("UPDATE person SET roles = '[\"admin\"]' WHERE login = 'wang'"))
        conn.execute(text("UPDATE directory_generation SET value = :g"), {"g": generation})
    with pytest.raises(IntegrityFailure):
        service.set_unit_head(ADMIN, "AQK", "zheng")
    with pytest.raises(IntegrityFailure):
        service.set_away("wang", "wang", None)  # anyone's own change: no laundering either
    assert any("人员目录" in p for p in service.verify_audit().problems)


def test_a_schema_version_set_back_by_hand_is_not_sealed_again(office):
    service = office.service
    raw(service, "UPDATE person SET roles = '[\"admin\"]' WHERE login = 'wang'")
    with service.db.engine.begin() as conn:
        for table in ("token", "account"):
            conn.execute(text(f"ALTER TABLE {table} DROP COLUMN seal"))
        conn.execute(text("ALTER TABLE audit_event DROP COLUMN hash_version"))  # 0010's
        conn.execute(text("ALTER TABLE notice DROP COLUMN item_state"))  # 0011's
        conn.execute(text("UPDATE alembic_version SET version_num = '0008'"))
    with pytest.raises(IntegrityFailure, match="版本号可能被改回"):
        service.init(ADMIN)
    with service.db.engine.connect() as conn:  # the refused upgrade left nothing behind
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0008"


def test_a_broken_seal_holds_the_timers_for_after_the_reseal(office):
    service = office.service
    item_id = office.item()
    office.fire("wang", item_id, "sign")
    raw(service, "UPDATE person SET email = 'x@evil.example' WHERE login = 'wang'")
    office.clock.set(office.clock.now().replace(day=20, hour=10))
    with pytest.raises(IntegrityFailure):
        service.tick()
    with service.db.engine.connect() as conn:  # nothing ended failed or skipped meanwhile
        assert set(conn.execute(text("SELECT DISTINCT status FROM timer")).scalars()) \
            == {"pending"}
    service.reseal("root")
    steps = service.tick().steps
    assert steps and {s["status"].value for s in steps} <= {"fired", "skipped"}
    assert "failed" not in {s["status"].value for s in steps}
    assert any(s["status"].value == "fired" for s in steps)


@pytest.mark.parametrize("db_kind", ["postgres"], indirect=True)
def test_a_change_committed_while_the_engine_waits_is_not_signed_by_it(office):
    """On PostgreSQL the engine's directory change waits for a change made around it and then
    checks afresh: the change committed meanwhile is found, not signed."""
    import threading

    service = office.service
    outcome: list[BaseException | None] = []
    with service.db.engine.connect() as attacker:
        attacker.exec_driver_sql("BEGIN")
        attacker.exec_driver_sql("UPDATE person SET roles = '[\"admin\"]' WHERE login = 'wang'")

        def engine_write() -> None:
            try:
                service.set_away("wang", "wang", None)
                outcome.append(None)
            except BaseException as err:  # noqa: BLE001 (handed to the test thread)
                outcome.append(err)

        writer = threading.Thread(target=engine_write)
        writer.start()
        writer.join(1.0)  # waiting on the attacker's locks
        attacker.exec_driver_sql("COMMIT")
        writer.join(30)
    assert len(outcome) == 1 and isinstance(outcome[0], IntegrityFailure), outcome
    assert not service.verify_audit().ok
