"""A workflow folder with a broken file: the file is named with its line and skipped, the other
workflows (packaged and the folder's others) keep working, and an item whose workflow was in
the broken file says so when it is touched."""

from __future__ import annotations

import json
import logging
import shutil
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from duban import workflows
from duban.app import build_service
from duban.engine.errors import SetupError
from duban.engine.items import NewItem
from duban.engine.registry import Registry
from duban.engine.workflow_files import ADMIN_MODULES, Problem, load_folder
from tests.conftest import ADMIN, build_office

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "petition.py"
MARK = "# <- the line"
NOW = "2026-11-02 09:00"
GOOD = f'''\
    from duban.engine.models import Role
    from duban.engine.timers import Anchor, TimerSpec
    from duban.engine.workflow import Event, State, Workflow

    WORKFLOW = Workflow(  {MARK}: workflow
        name="rectify", version=1, label="整改",
        states=(State("open", "整改中"), State("done", "已整改", final=True)),
        initial="open",
        events=(
            Event("finish", "整改完成", source=("open",), dest="done", roles=(Role.handler,),  {MARK}: event
                  requires=("report",)),
        ),
        timers=(
            TimerSpec("remind", "到期前提醒", states=("open",), workdays=-1, notice="reminder"),  {MARK}: timer
        ),
    )
'''  # noqa: E501


def flow(*changes: tuple[str, str], mark: str | None = None) -> str:
    """The good file with ``changes`` made; only the line marked ``mark`` keeps its marker."""
    text = textwrap.dedent(GOOD)
    for old, new in changes:
        assert old in text, old
        text = text.replace(old, new)
    lines = [line.split(f"  {MARK}")[0] + (f"  {MARK}" if f"{MARK}: {mark}" in line else "")
             for line in text.splitlines()]
    return "\n".join(lines) + "\n"


def marked_line(text: str) -> int:
    [line] = [n for n, line in enumerate(text.splitlines(), 1) if line.endswith(MARK)]
    return line


IMPORTS_END = "from duban.engine.workflow import Event, State, Workflow\n"
BROKEN = {
    "syntax_error": (flow((IMPORTS_END, IMPORTS_END + f"def broken(:  {MARK}: here\n"),
                          mark="here"), "语法错误"),
    "name_error_at_import": (flow((IMPORTS_END, IMPORTS_END + f"OPEN = undefined_name  {MARK}: "
                                   "here\n"), mark="here"),
                             "运行时出错: NameError: name 'undefined_name' is not defined"),
    "raised_deep_below_the_file": (flow(('workdays=-1, notice="reminder")',
                                         'anchor=Anchor("weekly"), notice="reminder")'),
                                        mark="timer"),
                                   "运行时出错: ValueError: 'weekly' is not a valid Anchor"),
    "sys_exit_at_import": (flow((IMPORTS_END, IMPORTS_END + f"raise SystemExit(3)  {MARK}: "
                                 "here\n"), mark="here"), "调用了 sys.exit(3)"),
    "unknown_state_in_a_transition": (flow(('dest="done"', 'dest="finished"'), mark="event"),
                                      "工作流 rectify 第 1 版: 事件 finish 的目标状态 finished "
                                      "未定义"),
    "source_written_as_a_string": (flow(('source=("open",)', 'source=("open")'), mark="event"),
                                   "事件 finish 的 source 应为元组"),
    "unknown_initial_state": (flow(('initial="open"', 'initial="nowhere"'), mark="workflow"),
                              "初始状态 nowhere 未定义"),
    "timer_firing_an_unknown_event": (flow(('notice="reminder")', 'fire="nudge")'),
                                           mark="timer"),
                                      "定时步骤 remind: 事件 nudge 未定义"),
    "timer_in_an_unknown_state": (flow(('states=("open",), workdays', 'states=("gone",), '
                                        'workdays'), mark="timer"),
                                  "定时步骤 remind: 状态 gone 未定义"),
    "event_without_roles": (flow(("roles=(Role.handler,)", "roles=()"), mark="event"),
                            "事件 finish 必须指明可办理的角色"),
    "unknown_field": (flow(('requires=("report",)', 'requires=("mood",)'), mark="event"),
                      "事件 finish 使用了未定义的字段 mood"),
    "packaged_name_and_version_again": (flow(('name="rectify"', 'name="standard"'),
                                             mark="workflow"),
                                        "工作流 standard 第 1 版重复定义"
                                        "(已见于 duban 自带的工作流)"),
    "not_a_workflow": (flow(("WORKFLOW = Workflow(",
                             f"WORKFLOW = 'rectify'  {MARK}: here\nUNUSED = Workflow("),
                            mark="here"), "WORKFLOW(S) 不是 Workflow 对象"),
}


def folder_with(tmp_path: Path, broken: str) -> Path:
    folder = tmp_path / "flows"
    folder.mkdir()
    shutil.copy(EXAMPLE, folder / "petition.py")  # a good neighbour
    (folder / "rectify.py").write_text(broken, encoding="utf-8")
    return folder


@pytest.mark.parametrize(("text", "message"), BROKEN.values(), ids=BROKEN.keys())
def test_a_broken_file_is_named_with_its_line_and_the_rest_keeps_working(tmp_path, caplog,
                                                                        text, message):
    folder = folder_with(tmp_path, text)
    line = marked_line(text)
    with caplog.at_level(logging.WARNING, logger="duban.workflows"):
        registry = Registry.discover((workflows,), folder)
    assert "rectify" not in registry.names()
    assert {"standard", "hotline", "petition"} <= set(registry.names())
    assert registry.fire(registry.latest("petition"), "sign", "received") == "handling"
    [broken] = registry.broken
    assert broken.path == folder / "rectify.py"
    assert (broken.problems[0].line, message in broken.problems[0].message) == (line, True), (
        broken.problems)
    [warning] = [r.getMessage() for r in caplog.records if r.name == "duban.workflows"]
    assert warning.startswith(f"工作流文件 {folder / 'rectify.py'} 第 {line} 行: ")
    assert message in warning and warning.endswith("已跳过该文件, 其余工作流照常使用")
    assert "\n" not in warning


def test_every_problem_of_a_definition_is_listed_in_the_order_of_its_lines(tmp_path):
    text = flow(('dest="done"', 'dest="finished"'), ('notice="reminder")', 'fire="nudge")'))
    files = {f.path.name: f for f in load_folder(folder_with(tmp_path, text))}
    assert files["petition.py"].ok and [wf.name for wf in files["petition.py"].declared] == [
        "petition"]
    problems = files["rectify.py"].problems
    lines = text.splitlines()
    assert [(lines[p.line - 1].strip()[:10], p.message) for p in problems] == [
        ('Event("fin', "工作流 rectify 第 1 版: 事件 finish 的目标状态 finished 未定义"),
        ('TimerSpec(', "工作流 rectify 第 1 版: 定时步骤 remind: 事件 nudge 未定义"),
    ]
    assert files["rectify.py"].summary().endswith("(另有 1 处问题)")


def test_two_files_declaring_one_version_the_later_is_skipped(tmp_path):
    folder = folder_with(tmp_path, flow())
    (folder / "rectify_copy.py").write_text(flow(('label="整改"', 'label="整改副本"')))
    registry = Registry.discover((workflows,), folder)
    assert registry.latest("rectify").label == "整改"
    [broken] = registry.broken
    assert broken.path.name == "rectify_copy.py"
    assert broken.problems[0].message == (
        "工作流 rectify 第 1 版重复定义(已见于 rectify.py); 改动已在用的工作流请声明新版本")


def test_an_item_whose_workflow_broke_says_so_and_the_others_go_on(settings, clock, tmp_path):
    folder = folder_with(tmp_path, flow())
    first = build_service(replace(settings, workflows_dir=folder), clock)
    first.init(ADMIN, "管理员")
    office = build_office(first, clock)
    rectify = office.item(workflow="rectify")
    standard = office.item()
    first.close()

    broken = flow((IMPORTS_END, IMPORTS_END + f"OPEN = undefined_name  {MARK}: here\n"),
                  mark="here")
    (folder / "rectify.py").write_text(broken, encoding="utf-8")
    service = build_service(replace(settings, workflows_dir=folder), clock)
    try:
        for touch in (lambda: service.item_view(ADMIN, rectify),
                      lambda: service.fire("wang", rectify, "finish", {"report": "已整改"})):
            with pytest.raises(SetupError) as caught:
                touch()
            assert caught.value.message.startswith(
                f"工作流 rectify 第 1 版无法加载: 工作流文件 {folder / 'rectify.py'} "
                f"第 {marked_line(broken)} 行: 运行时出错: NameError")
            assert f"duban workflow check {folder}" in caught.value.message
        with pytest.raises(SetupError, match="工作流 rectify 无法加载"):
            service.registry.latest("rectify")  # what creating one asks for
        # the packaged workflows and the folder's other file work as before
        assert service.fire("wang", standard, "sign", {})["state"] == "in_progress"
        petition = service.new_item("zhao", NewItem(title="信访", lead_unit="JJK",
                                                    deadline="60天", workflow="petition",
                                                    source="petition"))
        assert service.fire("wang", petition["id"], "sign", {})["state"] == "handling"
        # the daemon's round fires everyone else's steps; the broken workflow's stay due
        clock.advance(days=40)
        report = service.tick()
        fired = {step["item_id"] for step in report.steps}
        assert standard in fired and rectify not in fired
        waiting = [t for t in service.timers(ADMIN, rectify) if t["status"] == "pending"]
        assert waiting and min(t["due_at"] for t in waiting) <= clock.now()
    finally:
        service.close()


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
def test_the_command_line_warns_in_one_line_and_reports_the_touched_item(cli, tmp_path):
    folder = folder_with(tmp_path, flow())
    cli.env["DUBAN_WORKFLOWS_DIR"] = str(folder)
    item = cli.json("--as", "zhao", "--now", NOW, "item", "new", "--title", "整改",
                    "--unit", "JJK", "--deadline", "2026-12-20", "--workflow", "rectify")["id"]
    broken = flow((IMPORTS_END, IMPORTS_END + f"def broken(:  {MARK}: here\n"), mark="here")
    (folder / "rectify.py").write_text(broken, encoding="utf-8")
    where = f"工作流文件 {folder / 'rectify.py'} 第 {marked_line(broken)} 行: 语法错误"

    listed = cli.run("workflow", "list", "--json")
    assert {row["name"] for row in json.loads(listed.stdout)} >= {
        "standard", "petition"}
    [warning] = listed.stderr.splitlines()
    assert warning.startswith(f"警告: {where}") and warning.endswith("其余工作流照常使用")

    shown = cli.run("--as", "zhao", "item", "show", str(item), code=7)
    assert "Traceback" not in shown.stderr
    warning, error = shown.stderr.splitlines()
    assert warning.startswith(f"警告: {where}")
    assert error.startswith(f"错误: 工作流 rectify 第 1 版无法加载: {where}")

    other = cli.json("--as", "zhao", "--now", NOW, "item", "new", "--title", "安全排查",
                     "--unit", "JJK", "--deadline", "2026-12-20")
    assert other["workflow"] == "standard"


def test_a_check_leaves_no_module_behind_and_one_failure_stops_nothing(tmp_path):
    folder = folder_with(tmp_path, flow())
    (folder / "a_first.py").write_text("raise KeyError('first')\n", encoding="utf-8")
    checked = load_folder(folder, keep=False)
    assert [(f.path.name, f.ok) for f in checked] == [
        ("a_first.py", False), ("petition.py", True), ("rectify.py", True)]
    assert checked[0].problems[0] == Problem("运行时出错: KeyError: 'first'", 1)
    assert loaded_from(folder) == set()
    used = Registry.discover((workflows,), folder)  # what a program uses stays loaded
    assert {"petition", "rectify"} <= set(used.names())
    assert loaded_from(folder) == {f"{ADMIN_MODULES}.petition", f"{ADMIN_MODULES}.rectify"}


def loaded_from(folder: Path) -> set[str]:
    return {name for name, module in list(sys.modules.items())
            if name.startswith(ADMIN_MODULES) and module is not None
            and Path(module.__file__ or "").parent == folder}
