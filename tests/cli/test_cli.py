"""The real CLI in a subprocess: flows, JSON output, errors and exit codes."""

from __future__ import annotations

import subprocess

import pytest
from sqlalchemy import create_engine, select

from duban.engine.models import AUDIT_EVENT
from tests.cli.conftest import DUBAN, ME, Cli


def test_a_whole_item_life_through_the_cli(cli):
    created = cli.json("--as", "zhao", "--now", "2026-11-02 09:00", "item", "new",
                       "--title", "校园安全隐患排查", "--unit", "JJK", "--deadline", "2026-11-20")
    item = str(created["id"])
    assert created["state"] == "assigned"
    assert created["current_deadline"] == "2026-11-20T15:59:59.000000+00:00"
    assert cli.json("--as", "wang", "sign", item)["state"] == "in_progress"
    assert cli.json("--as", "wang", "report", item, "--report", "已完成")["state"] == "reported"
    rejected = cli.json("--as", "zhao", "--now", "2026-11-10 10:00", "reject", item,
                        "--reason", "核查不实", "--deadline", "2026-11-25")
    assert rejected["state"] == "in_progress"
    assert rejected["deadline_reason"] == "退回重办"
    cli.run("--as", "wang", "item", "fire", item, "report", "--report", "已整改")
    cli.run("--as", "zhao", "verify", item)
    closed = cli.run("--as", "zhao", "close", item).stdout
    assert "(销号 → 已销号)" in closed
    history = cli.run("item", "history", item).stdout
    assert "退回重办 已报结 → 办理中  理由: 核查不实" in history
    assert "2026-11-10 10:00" in history
    actions = [e["action"] for e in cli.json("item", "history", item)]
    assert [a for a in actions if a != "notice"] == ["created"] + ["event"] * 6
    # 交办通知 on creation, 退回重办通知 on the redo, 办结销号通知 on closing
    assert "生成通知 督办〔2026〕1号  关于交办“校园安全隐患排查”的通知" in history
    assert "生成通知 督办〔2026〕2号  关于退回重办“校园安全隐患排查”的通知" in history
    assert "督办〔2026〕3号  关于“校园安全隐患排查”办结销号的通知" in history
    assert "审计链完整" in cli.run("audit", "verify").stdout
    assert "全部一致" in cli.run("audit", "rebuild").stdout


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
def test_show_lists_what_the_actor_may_do(cli):
    item = str(cli.json("--as", "zhao", "item", "new", "--title", "排查", "--unit", "JJK",
                        "--deadline", "2099-01-01")["id"])
    shown = cli.run("--as", "wang", "item", "show", item).stdout
    assert "状态: 已交办" in shown
    assert "可办理: 签收(sign)、退回交办(decline)" in shown
    assert cli.json("--as", "wang", "item", "show", item)["possible_events"] == ["sign", "decline"]


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
def test_errors_are_one_line_with_distinct_exit_codes(cli):
    item = str(cli.json("--as", "zhao", "item", "new", "--title", "排查", "--unit", "JJK",
                        "--deadline", "2099-01-01")["id"])
    assert "没有编号为 999" in cli.error("--as", "wang", "sign", "999", code=4)
    assert "无法识别的期限" in cli.error("--as", "zhao", "item", "new", "--title", "x",
                                        "--unit", "JJK", "--deadline", "12月10日", code=2)
    assert "只有督查员可以" in cli.error("--as", "wang", "verify", item, code=3)
    assert "你现在可以: 签收、退回交办" in cli.error("--as", "wang", "report", item,
                                                   "--report", "x", code=3)
    assert "需要填写: 理由" in cli.error("--as", "wang", "decline", item, code=2)
    assert "没有事件 fly" in cli.error("--as", "wang", "item", "fire", item, "fly", code=4)
    assert "已存在" in cli.error("unit", "add", "JJK", "重复", code=5)
    assert "控制字符" in cli.error("unit", "add", "X1", "坏\x07名", code=2)
    assert "Usage" not in cli.error("--as", "wang", "item", "show", "abc", code=2)
    history = cli.json("item", "history", item)
    assert [e["action"] for e in history if e["action"] != "notice"] == [
        "created", "refused", "refused", "refused"]
    assert cli.json("item", "show", item)["version"] == 1


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
def test_acting_as_another_needs_admin(cli):
    assert "只有管理员" in cli.error("--as", "wang", "person", "add", "x1", "某人", code=3)
    assert "只有管理员" not in cli.run("--as", "zhao", "item", "list").stderr


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
def test_the_person_at_the_shell_is_the_real_user_not_logname(cli):
    # A forged LOGNAME/USER names the handler wang; the command still runs as the real user
    # (the office's admin), and the record says so.
    cli.env["USER"] = cli.env["LOGNAME"] = "wang"
    cli.run("person", "add", "x1", "某人")  # wang could not: only an admin adds people
    with create_engine(cli.env["DUBAN_DB"]).connect() as conn:
        actor = conn.execute(select(AUDIT_EVENT.c.actor)
                             .where(AUDIT_EVENT.c.action == "person_added")
                             .order_by(AUDIT_EVENT.c.seq.desc()).limit(1)).scalar()
    assert actor == ME


def test_uninitialised_database_says_run_init(tmp_path):
    runner = Cli(f"sqlite:///{tmp_path / 'fresh.db'}", tmp_path)
    assert "duban init" in runner.error("item", "list", code=7)


def test_help_is_in_chinese_and_lists_the_commands():
    done = subprocess.run([DUBAN, "--help"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0
    for word in ("督查督办", "init", "item", "audit", "demo", "签收事项"):
        assert word in done.stdout


def test_workflow_show_and_mermaid(tmp_path):
    runner = Cli(f"sqlite:///{tmp_path / 'x.db'}", tmp_path)
    shown = runner.run("workflow", "show", "standard").stdout
    assert "退回重办(reject): 已报结 → 办理中  由督查员办理  需填: 理由、办理期限" in shown
    diagram = runner.run("workflow", "show", "standard", "--mermaid").stdout
    assert diagram.startswith("stateDiagram-v2")
    assert "not found" not in runner.error("workflow", "show", "nothing", code=4)


def test_demo_runs_and_its_database_verifies(tmp_path):
    runner = Cli(f"sqlite:///{tmp_path / 'main.db'}", tmp_path)
    demo_db = tmp_path / "demo.db"
    out = runner.run("demo", "--db", str(demo_db)).stdout
    assert "督办台账" in out and "审计链" in out and "完整" in out
    assert "与现状一致" in out
    runner.env["DUBAN_DB"] = str(demo_db)
    assert "审计链完整" in runner.run("audit", "verify").stdout
    items = runner.json("--as", "zhao_m", "item", "list")
    assert len(items) == 56  # the quarter: 40 hotline orders, 16 other items
    assert {i["workflow"] for i in items} == {
        "standard", "hotline", "inspection", "instruction", "key_task"}
    assert {i["state"] for i in items} >= {"closed", "in_progress", "verified"}
    assert "督通〔2027〕1号" in out and "2026年第四季度 考核" in out
    ranked = runner.json("--as", "zhao_m", "--now", "2027-01-04 09:00", "assess", "--period",
                         "2026-Q4")
    assert ranked["total"]["satisfaction_rate"] == 1.0 and ranked["total"]["instruction_rate"] == 1
    outbox = demo_db.with_name("demo-outbox")
    assert len(list(outbox.glob("*.txt"))) > 200
    # Running again replaces the demo database, never a real one.
    runner.run("demo", "--db", str(demo_db))
    real = tmp_path / "real.db"
    runner.env["DUBAN_DB"] = str(real)
    runner.run("init")
    assert "不是演示库" in runner.error("demo", "--db", str(real), code=7)


def test_calendar_answers_in_working_days(tmp_path):
    runner = Cli(f"sqlite:///{tmp_path / 'x.db'}", tmp_path)
    runner.run("init")
    assert "工作日 248 天" in runner.run("calendar", "show", "2026").stdout
    assert runner.json("calendar", "is-workday", "2026-02-14")["workday"] is True
    assert "不是工作日" in runner.run("calendar", "is-workday", "2026-02-16").stdout
    assert "2026-02-24 23:59" in runner.run("calendar", "add", "2026-02-10", "5 workdays").stdout
    later = runner.json("calendar", "add", "2026-12-25 09:00", "10个工作日")
    assert (later["deadline_local"], later["provisional"]) == ("2027-01-08 23:59", True)
    assert "无法识别的期限" in runner.error("calendar", "add", "2026-12-25", "soon", code=2)


def test_timers_through_the_cli_with_simulated_time(cli):
    item = str(cli.json("--as", "zhao", "--now", "2026-11-02 09:00", "item", "new", "--title",
                        "排查", "--unit", "JJK", "--deadline", "10个工作日")["id"])
    cli.run("--as", "wang", "--now", "2026-11-02 10:00", "sign", item)
    assert "2026-11-16 23:59  yellow" in cli.run("item", "timers", item).stdout
    out = cli.run("--now", "2026-11-17 09:30", "tick").stdout
    assert "触发 2, 跳过 3" in out
    assert cli.json("item", "show", item)["attrs"]["warning"] == "yellow"
    assert "触发 0" in cli.run("--now", "2026-11-17 09:30", "tick").stdout


BEYOND = "9223372036854775808"  # one past the largest integer either database stores


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
@pytest.mark.parametrize("args", [
    ("item", "show", BEYOND), ("item", "history", BEYOND), ("item", "timers", BEYOND),
    ("item", "list", "--offset", "99999999999999999999"), ("sign", BEYOND),
    ("item", "fire", "1", "sign", "--expect-version", BEYOND),
    ("audit", "rebuild", "--item", BEYOND), ("notices", "show", BEYOND),
    ("notices", "list", "--item", BEYOND), ("evidence", "get", BEYOND, "--out", "x"),
    ("token", "revoke", BEYOND), ("ledger", "--offset", "-1"), ("item", "show", "abc"),
    ("calendar", "show", "99999"),
])
def test_every_number_has_a_range(cli, args):
    line = cli.error(*args, code=2)
    assert "应为" in line and "的整数" in line and "内部错误" not in line


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
def test_anchors_and_seals_through_the_cli(cli, settings, tmp_path):
    anchors = tmp_path / "elsewhere" / "anchors.jsonl"
    anchors.parent.mkdir()
    assert "已追加到锚点文件" in cli.run("audit", "anchor", "--to", str(anchors)).stdout
    cli.run("--as", "zhao", "item", "new", "--title", "排查", "--unit", "JJK",
            "--deadline", "2026-12-20")
    assert "链仍到达每个锚定的链头" in cli.run("audit", "verify", "--anchor", str(anchors)).stdout
    engine = create_engine(settings.db_url)
    with engine.begin() as conn:  # made admin with the database's password, not the key
        conn.exec_driver_sql("UPDATE person SET roles = '[\"admin\"]' WHERE login = 'wang'")
    engine.dispose()
    refused = cli.error("--as", "wang", "item", "list", code=6)
    assert "人员目录" in refused and "duban audit reseal" in refused
    assert "人员目录" in cli.run("audit", "verify", code=6).stdout
    assert "已按现状重新签名人员目录" in cli.run("audit", "reseal").stdout
    assert "无需重新签名" in cli.run("audit", "reseal").stdout
    cli.run("--as", "wang", "item", "list")
    assert "审计链完整" in cli.run("audit", "verify", "--anchor", str(anchors)).stdout


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
@pytest.mark.parametrize("command", ["assess", "ledger", "circular"])
def test_an_empty_period_is_refused_in_one_line(cli, command):
    message = cli.error("--as", "zhao", command, "--period", "", code=2)
    assert "无法识别的时段" in message
