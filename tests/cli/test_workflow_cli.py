"""``duban workflow check`` and ``duban workflow show``, through the real command line."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from duban import workflows
from duban.engine.registry import Registry
from tests.cli.conftest import DUBAN, Cli

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "petition.py"
WORKFLOW_NAMES = sorted(Registry.discover((workflows,)).names())
SHOW_KEYS = {"name", "version", "label", "initial", "states", "events", "timers"}
BROKEN_DEFINITION = EXAMPLE.read_text(encoding="utf-8").replace(
    'name="petition"', 'name="appeal"').replace(
    'Event("close", "办结", source=("answered",), dest="closed"',
    'Event("close", "办结", source=("answered",), dest="archived"')


def without_database(tmp_path: Path) -> Cli:
    """A command line whose database cannot be reached (a closed loopback port) and whose
    settings file is not valid: a command that needed either would fail."""
    runner = Cli("postgresql://duban:secret@127.0.0.1:9/duban", tmp_path)
    runner.config.write_text("this is not toml = [", encoding="utf-8")
    return runner


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.fixture
def folder(tmp_path) -> Path:
    flows = tmp_path / "flows"
    flows.mkdir()
    shutil.copy(EXAMPLE, flows / "petition.py")
    (flows / "_helpers.py").write_text("raise RuntimeError('never loaded')\n")
    return flows


def test_check_accepts_a_good_folder_without_settings_or_database(folder, tmp_path):
    cli = without_database(tmp_path)
    done = cli.run("workflow", "check", str(folder))
    assert done.stdout.splitlines() == [f"✓ petition v1 (信访件)  {folder / 'petition.py'}",
                                        "共 1 个文件: 1 个可用"]
    assert done.stderr == ""
    assert cli.json("workflow", "check", str(folder)) == [
        {"file": str(folder / "petition.py"), "ok": True,
         "workflows": [{"name": "petition", "version": 1, "label": "信访件"}], "problems": []}]


def test_check_names_each_broken_file_and_line_and_exits_2(folder, tmp_path):
    (folder / "appeal.py").write_text(BROKEN_DEFINITION, encoding="utf-8")
    (folder / "typo.py").write_text("from duban.workflows.vocabulary import Workflow\n\n"
                                    "WORKFLOW = Workflow(name='typo',\n", encoding="utf-8")
    (folder / "standard_again.py").write_text(
        "from duban.workflows.standard import WORKFLOW\n", encoding="utf-8")
    cli = without_database(tmp_path)
    done = cli.run("workflow", "check", str(folder), code=2)
    close_line = line_of(BROKEN_DEFINITION, 'Event("close"')
    assert done.stdout.splitlines() == [
        f"✗ {folder / 'appeal.py'}:{close_line} 工作流 appeal 第 1 版: 事件 close 的目标状态 "
        "archived 未定义",
        f"✓ petition v1 (信访件)  {folder / 'petition.py'}",
        f"✗ {folder / 'standard_again.py'}:1 工作流 standard 第 1 版重复定义(已见于 duban "
        "自带的工作流); 改动已在用的工作流请声明新版本",
        f"✗ {folder / 'typo.py'}:3 语法错误: '(' was never closed",
        "共 4 个文件: 1 个可用, 3 个有错(使用时将被跳过)",
    ]
    listed = json.loads(subprocess.run([DUBAN, "workflow", "check", "--json", str(folder)],
                                       env=cli.env, capture_output=True, text=True).stdout)
    assert [(Path(f["file"]).name, f["ok"], [p["line"] for p in f["problems"]])
            for f in listed] == [("appeal.py", False, [close_line]), ("petition.py", True, []),
                                 ("standard_again.py", False, [1]), ("typo.py", False, [3])]


def test_check_refuses_a_folder_that_is_not_there(tmp_path):
    line = without_database(tmp_path).error("workflow", "check", str(tmp_path / "nowhere"),
                                            code=2)
    assert line == f"错误: 工作流目录 {tmp_path / 'nowhere'} 不存在或不是目录"


@pytest.mark.parametrize("name", WORKFLOW_NAMES)
def test_show_lists_every_timer_step_in_words_and_in_json(name, tmp_path):
    cli = Cli(f"sqlite:///{tmp_path / 'never-created.db'}", tmp_path)
    workflow = Registry.discover((workflows,)).latest(name)
    shown = cli.json("workflow", "show", name)
    assert set(shown) == SHOW_KEYS
    assert [t["step"] for t in shown["timers"]] == [spec.step for spec in workflow.timers]
    assert [t["label"] for t in shown["timers"]] == [spec.label for spec in workflow.timers]
    text = cli.run("workflow", "show", name).stdout.splitlines()
    timers = text[text.index("定时步骤:") + 1:] if workflow.timers else []
    assert [line.split("; ")[0] for line in timers] == [
        f"  {spec.label}({spec.step}): {spec.when()}" for spec in workflow.timers]
    assert not (tmp_path / "never-created.db").exists()


def test_show_says_when_each_standard_step_fires_and_what_it_does(tmp_path):
    cli = Cli(f"sqlite:///{tmp_path / 'never-created.db'}", tmp_path)
    text = cli.run("workflow", "show", "standard").stdout
    for line in (
        "  期限前3个工作日提醒(remind_3): 期限前 3 个工作日 09:00; 发提醒函给责任人; "
        "适用于已交办、办理中; 期限已过则跳过",
        "  到期未报结: 黄色预警(yellow): 到期时; 办理“预警”(预警等级: 黄色预警), "
        "发预警通知给责任人, 抄送牵头领导; 适用于已交办、办理中",
        "  逾期5个工作日: 红色预警(red): 期限后第 5 个工作日 09:00; "
        "办理“预警”(预警等级: 红色预警), 发预警通知给责任人、单位负责人, 抄送牵头领导; "
        "适用于已交办、办理中",
        "  每月调度: 报送进展(progress_report): 每月 25 日 09:00; 发进展报送通知给责任人; "
        "适用于办理中",
        "  延期申请待批提醒(extension_decision): 进入该状态后第 2 个工作日 09:00; "
        "发延期申请待审提醒给督查室; 适用于延期待批",
    ):
        assert line in text.splitlines(), line
    red = next(t for t in cli.json("workflow", "show", "standard")["timers"]
               if t["step"] == "red")
    assert {key: red[key] for key in ("when", "anchor", "workdays", "at", "states", "fire",
                                      "fire_label", "values", "notice", "notice_label", "to",
                                      "to_labels", "cc", "cc_labels", "skip_after_deadline")} == {
        "when": "期限后第 5 个工作日 09:00", "anchor": "deadline", "workdays": 5, "at": "09:00",
        "states": ["assigned", "in_progress"], "fire": "warn", "fire_label": "预警",
        "values": {"level": "red", "reason": "逾期5个工作日仍未报结"}, "notice": "warning",
        "notice_label": "预警通知", "to": ["owner", "unit_head"],
        "to_labels": ["责任人", "单位负责人"], "cc": ["lead_leader"], "cc_labels": ["牵头领导"],
        "skip_after_deadline": False}


def test_show_names_the_timers_of_an_admins_workflow(folder, tmp_path):
    cli = Cli(f"sqlite:///{tmp_path / 'never-created.db'}", tmp_path)
    cli.env["DUBAN_WORKFLOWS_DIR"] = str(folder)
    timers = cli.json("workflow", "show", "petition")["timers"]
    assert [(t["label"], t["when"]) for t in timers] == [
        ("答复期限前5个工作日提醒", "期限前 5 个工作日 09:00"),
        ("超过答复期限: 红色预警", "到期时")]
