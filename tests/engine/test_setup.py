"""init, schema checks, settings, the workflow registry."""

from __future__ import annotations

import textwrap

import pytest

from duban import workflows
from duban.app import build_service
from duban.engine.clock import FixedClock
from duban.engine.directory import NewPerson
from duban.engine.errors import Refused, SetupError
from duban.engine.items import NewItem
from duban.engine.registry import Registry
from duban.engine.schema import SCHEMA_REVISION
from duban.engine.settings import Settings, load_settings
from tests.conftest import ADMIN, START


def test_init_twice_changes_nothing_the_second_time(service):
    again = service.init("admin")
    assert (again.schema_before, again.schema_after) == (SCHEMA_REVISION, SCHEMA_REVISION)
    assert again.admin_created is None and not again.key_created
    assert [p["login"] for p in service.people(ADMIN)] == ["admin"]
    assert service.verify_audit(ADMIN).ok


def test_init_may_register_the_first_admin_as_a_supervisor_too(settings, clock):
    service = build_service(settings, clock)
    try:
        assert service.init("boss", "局长", supervisor=True).admin_created == "boss"
        [boss] = service.people("boss")
        assert sorted(boss["roles"]) == ["admin", "supervisor"]
        service.add_unit("boss", "JJK", "基础教育科")
        item = service.new_item("boss", NewItem(title="排查", lead_unit="JJK",
                                                deadline="10个工作日"))
        assert item["state"] == "assigned"
        assert service.verify_audit("boss").ok
    finally:
        service.close()


def test_an_admin_who_may_not_assign_is_told_the_command_that_gives_the_role(service):
    service.add_unit(ADMIN, "JJK", "基础教育科")
    spec = NewItem(title="排查", lead_unit="JJK", deadline="10个工作日")
    with pytest.raises(Refused) as refused:
        service.new_item(ADMIN, spec)
    assert refused.value.message.startswith("管理员无权交办标准督办事项: 只有督查员可以; ")
    assert refused.value.message.endswith(
        "duban person edit admin --role admin --role supervisor")
    service.edit_person(ADMIN, ADMIN, {"roles": ["admin", "supervisor"]})
    assert service.new_item(ADMIN, spec)["state"] == "assigned"


def test_a_refusal_to_assign_names_no_command_to_one_who_is_not_an_admin(service):
    service.add_unit(ADMIN, "JJK", "基础教育科")
    service.add_person(ADMIN, NewPerson("wang", "王芳", "JJK", ("handler",)))
    with pytest.raises(Refused) as refused:
        service.new_item("wang", NewItem(title="排查", lead_unit="JJK", deadline="10个工作日"))
    assert refused.value.message == "王芳无权交办标准督办事项: 只有督查员可以"


def test_commands_refuse_an_uninitialised_database(tmp_path):
    settings = Settings(db_url=f"sqlite:///{tmp_path / 'empty.db'}",
                        audit_key_path=tmp_path / "key")
    service = build_service(settings, FixedClock(START))
    with pytest.raises(SetupError, match="duban init"):
        service.units(ADMIN)
    service.close()


def test_missing_key_is_a_setup_error(service, tmp_path):
    other = build_service(Settings(db_url=service.settings.db_url,
                             audit_key_path=tmp_path / "nowhere" / "key"), FixedClock(START))
    with pytest.raises(SetupError, match="审计签名密钥"):
        other.add_unit("admin", "X1", "某单位")
    other.close()


def test_settings_prefer_options_then_file_then_environment(tmp_path):
    config = tmp_path / "duban.toml"
    config.write_text('db = "/srv/file.db"\ntimezone = "Asia/Urumqi"\n')
    env = {"DUBAN_DB": "/srv/env.db", "DUBAN_AUDIT_KEY": "/keys/a.key"}
    from_file = load_settings(config_file=config, environ=env)
    assert from_file.db_url == "sqlite:////srv/file.db"
    assert from_file.audit_key_path.as_posix() == "/keys/a.key"
    assert from_file.timezone == "Asia/Urumqi"
    assert load_settings(db="postgresql://u@h/db", config_file=config, environ=env).db_url == (
        "postgresql+psycopg://u@h/db")


def test_settings_file_with_unknown_keys_is_refused(tmp_path):
    config = tmp_path / "duban.toml"
    config.write_text('dbb = "x"\n')
    with pytest.raises(SetupError, match="dbb"):
        load_settings(config_file=config, environ={})


def test_admin_workflow_folder_adds_a_workflow(tmp_path):
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "petition.py").write_text(textwrap.dedent('''
        from duban.engine.models import Role
        from duban.engine.workflow import Event, State, Workflow

        WORKFLOW = Workflow(
            name="petition", version=1, label="信访件",
            states=(State("received", "已受理"), State("answered", "已答复", final=True)),
            initial="received",
            events=(Event("answer", "答复", source=("received",), dest="answered",
                          roles=(Role.handler,), requires=("report",)),),
        )
    '''))
    registry = Registry.discover((workflows,), folder)
    assert "petition" in registry.names() and "standard" in registry.names()
    assert registry.fire(registry.latest("petition"), "answer", "received") == "answered"


@pytest.mark.parametrize("broken, message", [
    ('initial="nowhere"', "初始状态 nowhere 未定义"),
    ('events=(Event("x", "x", source=("a",), dest="b", roles=()),)', "必须指明可办理的角色"),
    ('events=(Event("x", "x", source=("a",), dest="zzz", roles=(Role.handler,)),)',
     "目标状态 zzz 未定义"),
    ('events=(Event("x", "x", source=("a",), dest="b", roles=(Role.handler,),'
     ' requires=("mood",)),)',
     "未定义的字段 mood"),
])
def test_broken_workflows_are_skipped_with_the_reason(tmp_path, broken, message):
    folder = tmp_path / "flows"
    folder.mkdir()
    fields = {"initial": 'initial="a"', "events": "events=()"}
    fields[broken.split("=", 1)[0]] = broken
    (folder / "bad.py").write_text(textwrap.dedent(f'''
        from duban.engine.models import Role
        from duban.engine.workflow import Event, State, Workflow

        WORKFLOW = Workflow(name="bad", version=1, label="坏",
                            states=(State("a", "甲"), State("b", "乙")),
                            {fields["initial"]}, {fields["events"]})
    '''))
    registry = Registry.discover((workflows,), folder)
    assert "bad" not in registry.names() and "standard" in registry.names()
    assert [message in f.summary() for f in registry.broken] == [True]


def test_mermaid_diagram_lists_every_transition():
    from duban.engine.diagram import mermaid

    workflow = Registry.discover((workflows,)).latest("standard")
    text = mermaid(workflow)
    assert text.startswith("stateDiagram-v2\n    [*] --> assigned")
    assert "reported --> in_progress : 退回重办" in text
    assert "closed --> [*]" in text
    assert "closed --> closed : 问责" in text  # falsification found after closing


def test_upgrading_from_the_first_schema_keeps_every_row(tmp_path):
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    from duban.engine.db import Database
    from duban.engine.schema import MIGRATIONS

    url = f"sqlite:///{tmp_path / 'old.db'}"
    database = Database(url, create=True)
    with database.write() as conn:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        conn.execute(text("INSERT INTO unit (code, name, created_at) "
                          "VALUES ('JJK', '基础教育科', '2026-01-05 01:00:00')"))
        conn.execute(text(
            "INSERT INTO item (workflow, workflow_version, state, title, goal, measures, source,"
            " lead_unit, co_units, original_deadline, current_deadline, public, attrs,"
            " created_by, created_at, updated_at, version) VALUES ('standard', 1, 'in_progress',"
            " '旧事项', '', '', 'other', 'JJK', '[]', '2026-02-01 15:59:59',"
            " '2026-02-01 15:59:59', 0, '{}', 'zhao', '2026-01-05 01:00:00',"
            " '2026-01-06 02:00:00', 2)"))
    database.dispose()
    service = build_service(Settings(db_url=url, audit_key_path=tmp_path / "key"),
                            FixedClock(START))
    result = service.init("admin")
    assert (result.schema_before, result.schema_after) == ("0001", SCHEMA_REVISION)
    item = service.item(ADMIN, 1)
    assert (item["title"], item["state"], item["version"]) == ("旧事项", "in_progress", 2)
    assert item["state_since"] == item["updated_at"]
    assert item["clock_start"] == item["created_at"]
    assert item["deadline_version"] == 1
    assert [u["code"] for u in service.units(ADMIN)] == ["JJK"]
    service.close()


def test_a_second_user_of_a_shared_database_cannot_make_a_key_of_their_own(service, tmp_path):
    """Several users of one database share one key: ``init`` with a missing or another key
    stops and says how to point at the shared one, and changes nothing."""
    from dataclasses import replace

    other = build_service(replace(service.settings, audit_key_path=tmp_path / "mine.key"),
                          FixedClock(START))
    with pytest.raises(SetupError, match="已由另一把密钥.*DUBAN_AUDIT_KEY"):
        other.init("second")
    other.close()
    assert not (tmp_path / "mine.key").exists()
    from duban.engine.signing import ensure_key

    ensure_key(tmp_path / "theirs.key")
    another = build_service(replace(service.settings, audit_key_path=tmp_path / "theirs.key"),
                            FixedClock(START))
    with pytest.raises(SetupError, match="不是本库审计记录所用的密钥"):
        another.init("second")
    another.close()
    assert service.verify_audit(ADMIN).ok
    assert service.init(ADMIN).key_created is False  # the first user's key still fits


def test_what_duban_creates_is_not_readable_by_others(tmp_path):
    import os
    import stat

    from duban.engine.signing import load_signer

    old = os.umask(0)  # the worst case: a umask that would let everybody read
    try:
        settings = Settings(db_url=f"sqlite:///{tmp_path / 'data' / 'duban.db'}",
                            audit_key_path=tmp_path / "keys" / "audit.key",
                            tables={"notices": {"outbox": str(tmp_path / "outbox")}})
        svc = build_service(settings, FixedClock(START))
        svc.init("admin")
        from duban.engine.directory import NewPerson
        from duban.engine.items import NewItem
        from duban.notifiers.sender import deliver

        svc.add_unit("admin", "JJK", "基础教育科")
        svc.add_person("admin", NewPerson("zhao", "赵", "JJK", ("supervisor", "handler")))
        svc.new_item("zhao", NewItem(title="排查", lead_unit="JJK", deadline="10个工作日"))
        deliver(svc)
        svc.close()
    finally:
        os.umask(old)
    made = [tmp_path / "data", tmp_path / "data" / "duban.db", tmp_path / "keys" / "audit.key",
            tmp_path / "outbox", *(tmp_path / "outbox").iterdir()]
    assert len(made) > 5
    for path in made:
        assert not stat.S_IMODE(path.stat().st_mode) & 0o007, path
    assert stat.S_IMODE((tmp_path / "keys" / "audit.key").stat().st_mode) == 0o600
    (tmp_path / "keys" / "audit.key").chmod(0o644)
    with pytest.raises(SetupError, match="人人可读"):
        load_signer(tmp_path / "keys" / "audit.key")
