"""Workflow versions: running items stay on theirs until migrated by an explicit state map."""

from __future__ import annotations

import textwrap
from dataclasses import replace

import pytest

from duban.app import build_service
from duban.engine.errors import InvalidInput, Refused, SetupError
from duban.engine.items import NewItem
from tests.conftest import ADMIN, build_office, local

V1 = '''
    WORKFLOW_V1 = Workflow(
        name="rectify", version=1, label="整改",
        states=(State("open", "整改中"), State("done", "已整改", final=True)),
        initial="open",
        events=(Event("finish", "整改完成", source=("open",), dest="done", roles=(Role.handler,),
                      requires=("report",)),),
        timers=(TimerSpec("remind", "到期前提醒", states=("open",), workdays=-1,
                          notice="reminder"),),
    )
'''
# Version 2 splits the work: a unit reports, the office checks; reminders come earlier.
V2 = '''
    WORKFLOW_V2 = Workflow(
        name="rectify", version=2, label="整改",
        states=(State("doing", "整改中"), State("checking", "待核查"),
                State("done", "已整改", final=True)),
        initial="doing",
        events=(Event("report", "报结", source=("doing",), dest="checking",
                      roles=(Role.handler,), requires=("report",)),
                Event("accept", "核查通过", source=("checking",), dest="done",
                      roles=(Role.supervisor,))),
        timers=(TimerSpec("remind", "到期前提醒", states=("doing",), workdays=-3,
                          notice="reminder"),),
    )
'''
HEAD = '''
    from duban.engine.models import Role
    from duban.engine.timers import TimerSpec
    from duban.engine.workflow import Event, State, Workflow
'''


def write_flows(folder, *versions: str) -> None:
    names = ", ".join(f"WORKFLOW_V{n}" for n in range(1, len(versions) + 1))
    body = HEAD + "".join(versions) + f"\n    WORKFLOWS = [{names}]\n"
    (folder / "rectify.py").write_text(textwrap.dedent(body), encoding="utf-8")


@pytest.fixture
def two_versions(settings, clock, tmp_path):
    folder = tmp_path / "flows"
    folder.mkdir()
    write_flows(folder, V1)
    first = build_service(replace(settings, workflows_dir=folder), clock)
    first.init(ADMIN, "管理员")
    office = build_office(first, clock)
    ids = [office.item(workflow="rectify", deadline=f"2026-11-{day} 18:00") for day in (20, 27)]
    office.fire("wang", ids[1], "finish", report="已整改")
    first.close()
    write_flows(folder, V1, V2)  # the admin adds version 2; nothing moves by itself
    service = build_service(replace(settings, workflows_dir=folder), clock)
    yield service, ids
    service.close()


def test_items_stay_on_their_version_until_migrated(two_versions):
    service, (running, finished) = two_versions
    assert service.registry.latest("rectify").version == 2
    assert service.item(ADMIN, running)["workflow_version"] == 1
    finished_now = service.fire("wang", running, "finish", {"report": "已整改"})  # a v1 event
    assert (finished_now["state"], finished_now["workflow_version"]) == ("done", 1)


def test_a_migration_maps_states_moves_timers_and_is_audited(two_versions):
    service, (running, finished) = two_versions
    with pytest.raises(InvalidInput) as caught:
        service.migrate_workflow("zhao", "rectify", 1, 2, {})
    assert "状态 open(1 个事项)在第2版中不存在, 请用 --map open=新状态 指定" in caught.value.message
    with pytest.raises(InvalidInput, match="第2版没有状态 nowhere"):
        service.migrate_workflow("zhao", "rectify", 1, 2, {"open": "nowhere"})
    with pytest.raises(Refused, match="无权迁移工作流"):
        service.migrate_workflow("wang", "rectify", 1, 2, {"open": "doing"})
    assert service.item(ADMIN, running)["workflow_version"] == 1  # nothing moved
    dry = service.migration_plan(ADMIN, "rectify", 1, 2, {"open": "doing"})
    assert (dry.items, dry.moves) == (2, {"done": ("done", 1), "open": ("doing", 1)})
    before = {t["step"]: t for t in service.timers(ADMIN, running)}
    assert before["remind"]["due_at"] == local("2026-11-19 09:00")
    service.migrate_workflow("zhao", "rectify", 1, 2, {"open": "doing"})
    moved = service.item(ADMIN, running)
    assert (moved["workflow_version"], moved["state"]) == (2, "doing")
    assert service.item(ADMIN, finished)["state"] == "done"
    last = [e for e in service.history(ADMIN, running) if e["action"] == "migrated"][-1]
    assert last["payload"]["changes"]["state"] == ["open", "doing"]
    assert last["payload"]["changes"]["workflow_version"] == [1, 2]
    assert last["reason"] == "工作流 rectify 第1版 → 第2版"
    timers = service.timers(ADMIN, running)
    # the step is planned again from version 2: three working days before, not one
    assert [(t["step"], t["due_at"], t["status"]) for t in timers] == [
        ("remind", local("2026-11-17 09:00"), "pending")]
    service.fire("wang", running, "report", {"report": "已整改"})  # the new version's events
    assert service.fire("zhao", running, "accept", {})["state"] == "done"
    assert service.verify_audit(ADMIN).ok and service.check_rebuild(ADMIN).ok


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
def test_migrating_from_the_command_line(cli, tmp_path):
    folder = tmp_path / "cli-flows"
    folder.mkdir()
    write_flows(folder, V1)
    cli.env["DUBAN_WORKFLOWS_DIR"] = str(folder)
    item = cli.json("--as", "zhao", "--now", "2026-11-02 09:00", "item", "new", "--title", "整改",
                    "--unit", "JJK", "--deadline", "2026-11-20", "--workflow", "rectify")["id"]
    write_flows(folder, V1, V2)
    line = cli.error("--as", "zhao", "workflow", "migrate", "rectify", "--from", "1", "--to", "2",
                     code=2)
    assert "--map open=新状态" in line
    dry = cli.run("--as", "zhao", "workflow", "migrate", "rectify", "--from", "1", "--to", "2",
                  "--map", "open=doing", "--dry-run").stdout
    assert "将迁移 1 个事项" in dry and "open → doing: 1 个" in dry
    done = cli.json("--as", "zhao", "workflow", "migrate", "rectify", "--from", "1", "--to", "2",
                    "--map", "open=doing")
    assert (done["items"], done["moves"]) == (1, {"open": ["doing", 1]})
    assert cli.json("--as", "zhao", "item", "show", str(item))["workflow_version"] == 2


def test_an_edited_version_that_items_use_is_refused(two_versions, settings, clock, tmp_path):
    service, (running, _) = two_versions
    service.fire("wang", running, "finish", {"report": "已整改"})  # records both versions
    folder = tmp_path / "flows"
    edited = V1.replace("workdays=-1", "workdays=-2")  # version 1 changed in place
    write_flows(folder, edited, V2)
    changed = build_service(replace(settings, workflows_dir=folder), clock)
    with pytest.raises(SetupError, match=r"rectify 第1版\(2 个事项在用\)"):
        changed.new_item("zhao", NewItem(title="新", lead_unit="JJK", deadline="10个工作日",
                                         workflow="rectify"))
    changed.close()
    # a version nobody uses may still be corrected
    write_flows(folder, V1, V2.replace("workdays=-3", "workdays=-4"))
    unused_fixed = build_service(replace(settings, workflows_dir=folder), clock)
    assert unused_fixed.new_item("zhao", NewItem(title="新", lead_unit="JJK",
                                                 deadline="10个工作日", workflow="standard"))
    unused_fixed.close()
