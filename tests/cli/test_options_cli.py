"""The command line as a person meets it: options in either place, JSON errors, Chinese help
and values, tables that fit the terminal, output options that exclude each other."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest
from openpyxl import Workbook
from rich.cells import cell_len

from tests.cli.conftest import DUBAN

pytestmark = pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)

NOW = "2026-11-02 09:00"


def new_item(cli, title: str = "校园安全隐患排查", unit: str = "JJK") -> str:
    return str(cli.json("--as", "zhao", "--now", NOW, "item", "new", "--title", title,
                        "--unit", unit, "--deadline", "2026-11-20")["id"])


def refusal(cli, *args: str, code: int) -> str:
    """The one line a refused command answers: JSON on stdout with --json, else stderr."""
    if "--json" in args:
        return json.loads(cli.run(*args, code=code).stdout)["error"]
    return cli.error(*args, code=code)


def test_global_options_work_before_and_after_the_command(cli, tmp_path):
    db = cli.env.pop("DUBAN_DB")  # the database only from the command line, in either place
    item = str(json.loads(cli.run("item", "new", "--title", "排查", "--unit", "JJK",
                                  "--deadline", "2026-11-20", "--as", "zhao", "--now", NOW,
                                  "--db", db, "--json").stdout)["id"])
    before = json.loads(cli.run("--db", db, "--json", "item", "show", item).stdout)
    after = json.loads(cli.run("item", "show", item, "--db", db, "--json").stdout)
    assert before == after and before["id"] == int(item)
    # --now after the command moves the clock of that command: created at the given time
    history = json.loads(cli.run("--db", db, "item", "history", item, "--json").stdout)
    assert history[0]["at"].startswith("2026-11-02T01:00")
    # the demo's own --db names its database, and so does the global one
    mine = tmp_path / "mine.db"
    assert "演示库" in cli.run("--db", str(mine), "demo").stdout and mine.exists()


def test_errors_answer_in_json_when_json_is_asked_for(cli):
    for args, code, kind in ((("--json", "item", "show", "999"), 4, "not_found"),
                             (("item", "show", "999", "--json"), 4, "not_found"),
                             (("--json", "item", "shw", "1"), 2, "invalid_input"),
                             (("ledger", "--json", "--csv"), 2, "invalid_input"),
                             (("--as", "wang", "--json", "item", "new", "--title", "x",
                               "--unit", "JJK", "--deadline", "2099-01-01"), 3, "refused")):
        done = cli.run(*args, code=code)
        answer = json.loads(done.stdout)
        assert answer["code"] == kind and answer["exit_code"] == code, args
        assert answer["error"] and done.stderr == ""
    assert "没有编号为 999" in json.loads(cli.run("item", "show", "999", "--json",
                                                  code=4).stdout)["error"]
    # a command with no JSON output refuses --json rather than ignoring it
    for args in (("notices", "preview", "1", "--json"), ("--json", "completion", "bash")):
        done = cli.run(*args, code=2)
        assert "没有 JSON 输出" in json.loads(done.stdout)["error"], args


def test_output_options_that_exclude_each_other_are_refused(cli):
    for args, both in ((("ledger", "--json", "--csv"), "--json 与 --csv"),
                       (("ledger", "--csv", "--xlsx", "x.xlsx"), "--csv 与 --xlsx"),
                       (("ledger", "--zero", "--csv"), "--zero 与 --csv"),
                       (("ledger", "--zero", "--unit", "JJK"), "--zero 与 --unit"),
                       (("workflow", "show", "standard", "--mermaid", "--json"),
                        "--mermaid 与 --json")):
        line = refusal(cli, *args, code=2)
        assert both in line and "不能同时使用" in line, args


def test_help_and_parse_errors_speak_chinese(cli):
    top = cli.run("--help").stdout
    assert top.startswith("用法: duban [选项] 命令 [参数]...")
    assert "选项:" in top and "命令:" in top and "显示本帮助并退出。" in top
    assert "Usage" not in top and "Show this message" not in top
    line = cli.error("ledgr", code=2)
    assert "没有命令 “ledgr”" in line and "ledger" in line
    assert "没有选项 --nowx" in cli.error("ledger", "--nowx", code=2)
    assert "缺少参数" in cli.error("item", "show", code=2)
    # the value types name themselves in Chinese and the columns line up by display width
    help_lines = cli.run("report", "--help").stdout.splitlines()
    options = [line for line in help_lines if line.startswith("  --")]
    assert any(line.startswith("  --reason 文本") for line in options)
    starts = {cell_len(found.group(1)) for found in
              (re.match(r"(  \S.*?\S\s{2,})\S", line) for line in options) if found}
    assert len(starts) == 1, options


def test_completion_scripts_complete_commands(cli):
    for shell, marker in (("bash", "complete -o nosort -F"), ("zsh", "compdef"),
                          ("fish", "complete --no-files --command duban")):
        assert marker in cli.run("completion", shell).stdout, shell
    assert "可选" in cli.error("completion", "tcsh", code=2)
    env = {**cli.env, "_DUBAN_COMPLETE": "bash_complete", "COMP_WORDS": "duban led",
           "COMP_CWORD": "1"}
    done = subprocess.run([DUBAN], env=env, capture_output=True, text=True, timeout=60)
    assert "plain,ledger" in done.stdout.splitlines()


def test_chinese_labels_are_accepted_and_unknown_values_refused(cli):
    first, second = new_item(cli), new_item(cli, "第二项")
    cli.run("--as", "wang", "sign", first)
    by_label = cli.json("ledger", "--state", "办理中")
    assert [row["id"] for row in by_label["items"]] == [int(first)]
    assert by_label == cli.json("ledger", "--state", "in_progress")
    listed = cli.json("item", "list", "--state", "已交办", "--unit", "基础教育科")
    assert [r["id"] for r in listed] == [int(second)]
    assert cli.json("ledger", "--source", "其他")["total"] == 2
    assert cli.json("ledger", "--workflow", "标准督办")["total"] == 2
    for args, listed in ((("ledger", "--state", "办理"), "办理中(in_progress)"),
                         (("item", "list", "--state", "nope"), "已交办(assigned)"),
                         (("ledger", "--source", "外星"), "领导批示件(instruction)")):
        line = cli.error(*args, code=2)
        assert "可选:" in line and listed in line, args
    assert "标准督办(standard)" in cli.error("ledger", "--workflow", "常规", code=2)
    assert "标准督办(standard)" in cli.error("workflow", "show", "常规", code=4)
    assert "会议议定事项(meeting)" in cli.error("ledger", "--source", "事", code=2)
    assert "没有单位“XYZ”" in cli.error("ledger", "--unit", "XYZ", code=2)
    # notices by the kind's name as the documents call it, or refused with the kinds there are
    sent = cli.json("notices", "list", "--kind", "assignment")
    assert len(sent) == 2 and cli.json("notices", "list", "--kind", "督办函") == []
    assert cli.json("notices", "list", "--status", "待发送") == cli.json(
        "notices", "list", "--status", "pending")
    assert "督办函(urging)" in cli.error("notices", "list", "--kind", "外星", code=2)
    assert "请写代码" in cli.error("notices", "list", "--kind", "交办通知", code=2)
    # a workflow by its title wherever a workflow is named
    assert cli.run("workflow", "show", "热线工单").stdout.startswith("热线工单(hotline")
    created = cli.json("--as", "zhao", "item", "new", "--title", "热线", "--unit", "JJK",
                       "--deadline", "2099-01-01", "--workflow", "标准督办")
    assert created["workflow"] == "standard"


LONG = "落实市长批示: 做好秋冬季学校传染病防控和校园食品安全专项检查工作"


def test_tables_fit_the_terminal(cli):
    for n in range(2):
        new_item(cli, LONG + str(n))
    for args in (("ledger",), ("ledger", "--zero"), ("item", "list"),
                 ("--now", "2026-12-01", "assess", "--period", "2026-11")):
        out = subprocess.run([DUBAN, *args], env={**cli.env, "COLUMNS": "80"},
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, (args, out.stderr)
        assert max(cell_len(line) for line in out.stdout.splitlines()) <= 80, out.stdout
    assert cli.json("ledger") == json.loads(subprocess.run(
        [DUBAN, "ledger", "--json"], env={**cli.env, "COLUMNS": "40"}, capture_output=True,
        text=True).stdout)  # JSON whatever the width


def test_what_an_event_needs_is_in_the_help_and_the_events_list(cli):
    visit = cli.run("visit", "--help").stdout
    assert ("热线工单: 已办结待回访时由督查员办理  需填: --satisfaction 满意|基本满意|不满意"
            in visit)
    transfer = cli.run("transfer", "--help").stdout
    assert "督查室" in transfer and "由督查员办理  需填: --unit" in transfer
    item = new_item(cli)
    events = cli.run("--as", "zhao", "item", "events", item).stdout
    assert "transfer\t转办  需填: --unit 承办单位  --reason 理由" in events
    assert "warn\t预警  需填: --level yellow|red" in events
    listed = {e["event"]: e for e in cli.json("--as", "zhao", "item", "events", item)}
    warn = {f["name"]: f for f in listed["warn"]["fields"]}
    assert warn["level"]["required"] and warn["level"]["choices"] == {
        "yellow": "黄色预警", "red": "红色预警"}


def test_a_transferred_item_shows_both_units_and_leaves_the_old_ones_sight(cli):
    cli.run("unit", "add", "ZCK", "职业与成人教育科")
    cli.run("person", "add", "li", "李强", "--unit", "ZCK", "--role", "handler")
    item = new_item(cli, unit="ZCK")
    # li may see it (their unit's), wang may not: a refused read looks like a missing item
    assert "没有编号为" in cli.error("--as", "wang", "sign", item, code=4)
    cli.run("--as", "zhao", "transfer", item, "--unit", "JJK", "--reason", "按职责转基础教育科")
    line = cli.error("--as", "li", "sign", item, code=4)  # no longer theirs to see
    assert "没有编号为" in line
    history = cli.run("item", "history", item).stdout
    assert "承办单位: 职业与成人教育科 → 基础教育科" in history


def test_a_visible_item_of_another_unit_names_that_unit(cli):
    cli.run("unit", "add", "ZCK", "职业与成人教育科")
    cli.run("person", "add", "li", "李强", "--unit", "ZCK", "--role", "handler")
    item = str(cli.json("--as", "zhao", "--now", NOW, "item", "new", "--title", "联合检查",
                        "--unit", "JJK", "--co-unit", "ZCK", "--deadline", "2026-11-20")["id"])
    line = cli.error("--as", "li", "report", item, "--report", "已完成", code=3)
    assert "该事项由基础教育科主办, 职业与成人教育科是协办单位" in line


def test_import_problems_one_per_line_and_as_a_list(cli, tmp_path):
    book = Workbook()
    sheet = book.active
    sheet.append(["事项", "责任单位", "完成时限"])
    sheet.append(["已过期的任务", "JJK", "2020-01-01"])
    sheet.append(["未知单位的任务", "NOPE", "2099-03-01"])
    path = tmp_path / "任务清单(终稿)v2.xlsx"
    book.save(path)
    done = cli.run("--as", "zhao", "import", str(path), code=2)
    lines = done.stderr.strip().splitlines()
    assert lines == ["错误: 任务清单有 2 处问题, 未导入任何事项:",
                     "  第 2 行 [完成时限]: 完成时限已经过去",
                     "  第 3 行 [责任单位]: 未知单位“NOPE”"]
    answer = json.loads(cli.run("--as", "zhao", "import", str(path), "--json", code=2).stdout)
    assert answer["code"] == "invalid_input" and answer["problems"] == [
        {"row": 2, "column": "完成时限", "message": "完成时限已经过去"},
        {"row": 3, "column": "责任单位", "message": "未知单位“NOPE”"}]
    sheet.delete_rows(2, 2)
    sheet.append(["教辅材料征订自查", "JJK", "2099-03-01"])
    book.save(path)
    assert cli.run("--as", "zhao", "import", str(path)).stdout.strip() == "已导入 1 个事项(编号 1)"
    titles = [n["title"] for n in cli.json("notices", "list")]
    assert titles == ["关于交办《标准督办任务清单》有关任务的通知"]
    sheet.append(["学生资助资金发放", "JJK", "2099-03-01"])
    sheet.delete_rows(2)
    book.save(path)
    cli.run("--as", "zhao", "import", str(path), "--title", "2026年第四季度重点任务清单")
    assert "关于交办《2026年第四季度重点任务清单》有关任务的通知" in [
        n["title"] for n in cli.json("notices", "list")]
    sheet.insert_rows(1)  # a title row above the header names the list
    sheet["A1"] = "《2027年春季开学工作任务清单》"
    sheet.append(["开学安全检查", "JJK", "2099-03-01"])
    sheet.delete_rows(3)
    book.save(path)
    cli.run("--as", "zhao", "import", str(path))
    assert "关于交办《2027年春季开学工作任务清单》有关任务的通知" in [
        n["title"] for n in cli.json("notices", "list")]
    assert os.path.basename(path).removesuffix(".xlsx") not in json.dumps(
        cli.json("notices", "list"), ensure_ascii=False)
