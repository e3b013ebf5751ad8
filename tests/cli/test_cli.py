"""The real CLI in a subprocess: flows, JSON output, errors and exit codes."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from duban.engine.models import AUDIT_EVENT
from tests.cli.conftest import DUBAN, ME, Cli
from tests.cli.test_readme import fresh_home


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


NEW_ITEM = ("item", "new", "--title", "校园安全隐患排查", "--unit", "JJK", "--deadline",
            "10个工作日")


def test_the_first_admin_is_told_how_to_take_the_supervisor_role(tmp_path):
    runner = Cli(f"sqlite:///{tmp_path / 'x.db'}", tmp_path)
    edit = f"duban person edit {shlex.quote(ME)} --role admin --role supervisor"
    assert edit in runner.run("init").stdout
    runner.run("unit", "add", "JJK", "基础教育科")
    refusal = runner.error(*NEW_ITEM, code=3)
    assert refusal.startswith(f"错误: {ME}无权交办") and refusal.endswith(edit)
    hint = shlex.split(refusal.rsplit("角色: ", 1)[1])
    assert hint[0] == "duban"
    runner.run(*hint[1:])  # the command the refusal names, as it says it
    assert runner.json(*NEW_ITEM)["state"] == "assigned"
    assert [p["roles"] for p in runner.json("person", "list")] == [["admin", "supervisor"]]


def test_init_with_supervisor_lets_the_first_admin_assign_at_once(tmp_path):
    runner = Cli(f"sqlite:///{tmp_path / 'x.db'}", tmp_path)
    assert f"已登记首位管理员: {ME}(管理员、督查员)" in runner.run("init", "--supervisor").stdout
    runner.run("unit", "add", "JJK", "基础教育科")
    assert runner.json(*NEW_ITEM)["state"] == "assigned"
    again = runner.run("init", "--supervisor").stdout
    assert "只在首次登记时生效" in again and "已登记首位管理员" not in again


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
    runner.env["COLUMNS"] = "200"
    demo_db = tmp_path / "demo.db"
    out = runner.run("demo", "--db", str(demo_db)).stdout
    assert "督办台账" in out and "审计链" in out and "完整" in out
    assert "与现状一致" in out
    # Its own settings file names its database and key (the key wins over DUBAN_AUDIT_KEY,
    # which points at the main database's, as the file's database wins over DUBAN_DB).
    del runner.env["DUBAN_DB"]
    demo = ("--config", str(tmp_path / "demo.toml"))
    assert "审计链完整" in runner.run(*demo, "audit", "verify").stdout
    items = runner.json(*demo, "--as", "zhao_m", "item", "list")
    assert len(items) == 56  # the quarter: 40 hotline orders, 16 other items
    assert {i["workflow"] for i in items} == {
        "standard", "hotline", "inspection", "instruction", "key_task"}
    assert {i["state"] for i in items} >= {"closed", "in_progress", "verified"}
    assert "督通〔2027〕1号" in out and "2026年第四季度 考核" in out
    ranked = runner.json(*demo, "--as", "zhao_m", "--now", "2027-01-04 09:00", "assess",
                         "--period", "2026-Q4")
    printed = re.search(r"热线等回访满意率\s+([\d.]+)%", out)
    assert printed, out[-2000:]
    assert f"{ranked['total']['satisfaction_rate'] * 100:.1f}" == printed[1]
    assert ranked["total"]["instruction_rate"] == 1
    outbox = demo_db.with_name("demo-outbox")
    assert len(list(outbox.glob("*.txt"))) > 200
    # Running again replaces the demo database, never a real one, nor a settings file of
    # someone else's.
    runner.run("demo", "--db", str(demo_db))
    real = tmp_path / "real.db"
    runner.env["DUBAN_DB"] = str(real)
    runner.run("init")
    assert "不是演示库" in runner.error("demo", "--db", str(real), code=7)
    (tmp_path / "mine.toml").write_text('timezone = "Asia/Urumqi"\n', encoding="utf-8")
    assert "不是演示库的设置文件" in runner.error("demo", "--db", str(tmp_path / "mine.db"),
                                                  code=7)
    assert (tmp_path / "mine.toml").read_text(encoding="utf-8") == 'timezone = "Asia/Urumqi"\n'
    assert not (tmp_path / "mine.db").exists()


def run_in(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, env=env, cwd=env["HOME"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, (argv, done.stdout[-2000:], done.stderr)
    return done


@pytest.fixture(scope="module")
def first_demo(tmp_path_factory) -> tuple[dict[str, str], str]:
    """``duban demo`` as a new user runs it first: a fresh home, an 80-column terminal."""
    env = fresh_home(tmp_path_factory.mktemp("first-demo"))
    env["COLUMNS"] = "80"
    return env, run_in(env, "duban", "demo").stdout


def test_demo_output_fits_an_80_column_terminal(first_demo):
    from rich.cells import cell_len

    _, out = first_demo
    lines = out.splitlines()
    assert len(lines) > 150
    assert [line for line in lines if cell_len(line) > 80] == []
    # the tables are there, their long titles folded, not cut
    assert sum(line.startswith("┏") for line in lines) == 2
    ledger = "".join(line.split("│")[2].strip() for line in lines
                     if line.startswith("│") and len(line.split("│")) == 8)
    assert "落实局长批示:开展冬季校园安全隐患大排查" in ledger


def test_demo_log_runs_forward_in_time(first_demo):
    _, out = first_demo
    stamps = []
    for month, day, hour, minute in re.findall(r"^\[(\d\d)-(\d\d) (\d\d):(\d\d)\] ", out, re.M):
        year = 2027 if int(month) < 10 else 2026  # the quarter runs into January 2027
        stamps.append((year, int(month), int(day), int(hour), int(minute)))
    assert len(stamps) > 100
    backwards = [(a, b) for a, b in zip(stamps, stamps[1:], strict=False) if b < a]
    assert backwards == []
    assert stamps[0][:3] == (2026, 10, 9) and stamps[-1][:3] == (2027, 1, 4)


def test_demo_keeps_its_own_key_and_init_then_makes_the_real_one(first_demo):
    env, out = first_demo
    data = Path(env["XDG_DATA_HOME"]) / "duban"
    real_key = Path(env["XDG_CONFIG_HOME"]) / "duban" / "audit.key"
    demo_key = data / "demo-audit.key"
    assert demo_key.exists() and not real_key.exists()
    assert not (data / "duban.db").exists()
    assert "演示库: ~/.local/share/duban/demo.db\n" in out  # in the home folder
    assert "审计密钥: ~/.local/share/duban/demo-audit.key\n" in out
    done = run_in(env, "duban", "init")
    assert f"已生成审计签名密钥: {real_key}" in done.stdout
    assert real_key.read_text() != demo_key.read_text()
    assert "审计链完整" in run_in(env, "duban", "audit", "verify").stdout
    assert run_in(env, "duban", "item", "list", "--json").stdout.strip() == "[]"
    demo = ("--config", str(data / "demo.toml"))
    assert "审计链完整" in run_in(env, "duban", *demo, "audit", "verify").stdout


def suggested_commands(out: str) -> list[str]:
    """The commands the demo prints at its end, each as it would be pasted into a shell."""
    tail = out[out.index("继续体验"):].splitlines()[1:]
    commands: list[str] = []
    continued = False
    for line in tail:
        if continued:
            commands[-1] += "\n" + line
        elif line.startswith("  duban "):
            commands.append(line)
        else:
            continue
        continued = line.endswith("\\")
    return commands


def table_rows(out: str, title: str) -> list[dict[str, str]]:
    """The rows of the rich table under ``title`` (one line to a row), by column header."""
    lines = out.splitlines()
    start = next(n for n, line in enumerate(lines) if title in line)
    header = next(n for n in range(start, len(lines)) if lines[n].startswith("┃"))
    names = [cell.strip() for cell in lines[header].strip("┃ ").split("┃")]
    rows = []
    for line in lines[header + 1:]:
        if line.startswith("└"):
            break
        if line.startswith("│"):
            rows.append(dict(zip(names, (cell.strip() for cell in line.strip("│ ").split("│")),
                                 strict=True)))
    return rows


def test_the_demos_suggested_commands_give_the_figures_it_printed(tmp_path):
    env = fresh_home(tmp_path)
    env["COLUMNS"] = "200"  # no folding: one table row to a line
    out = run_in(env, "duban", "demo").stdout
    commands = suggested_commands(out)
    assert len(commands) == 4 and all("--now 2027-01-04T09:00" in c for c in commands)
    outputs = {command: run_in(env, "bash", "-c", command).stdout for command in commands}
    assess = next(output for command, output in outputs.items() if " assess " in command)
    title = "2026年第四季度 考核"
    printed, again = table_rows(out, title), table_rows(assess, title)
    common = set(printed[0]) & set(again[0])
    assert {"排名", "单位", "到期", "按期办结率", "逾期", "得分"} <= common
    assert len(printed) == len(again) >= 6
    assert [{k: row[k] for k in common} for row in again] == [
        {k: row[k] for k in common} for row in printed]
    totals = r"到期 (\d+) 件, 按期办结率 ([\d.]+%)"
    assert re.search(totals, assess).groups() == re.search(totals, out).groups()
    [(command, shown)] = [(c, output) for c, output in outputs.items() if " item show " in c]
    number = re.search(r"item show (\d+)", command)[1]
    assert re.search(rf"^编号: {number}$", shown, re.M), shown


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
    timetable = cli.run("item", "timers", item).stdout  # each step by its Chinese name
    assert re.search(r"2026-11-16 23:59 │ 到期未报结: 黄色预警 +│ 待触发", timetable), timetable
    assert "yellow" in {row["step"] for row in cli.json("item", "timers", item)}
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
