"""``duban ledger / assess / circular / import`` in a subprocess."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import Workbook, load_workbook

from tests.cli.conftest import Cli

pytestmark = pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)


def test_the_office_reads_ranks_and_imports_from_the_command_line(cli: Cli, tmp_path):
    now = ("--now", "2026-11-02 09:00")
    book = Workbook()
    book.active.append(["事项", "责任单位", "完成时限", "来源"])
    book.active.append(["校园安全隐患排查", "基础教育科", "2026-11-20", "领导批示件"])
    book.active.append(["教辅材料自查", "JJK", "5个工作日", ""])
    book.save(tmp_path / "tasks.xlsx")
    imported = cli.json("--as", "zhao", *now, "import", str(tmp_path / "tasks.xlsx"))
    first, second = (str(i) for i in imported["created"])
    cli.run("--as", "wang", "--now", "2026-11-03 09:00", "sign", first)
    cli.run("--as", "wang", "--now", "2026-11-05 09:00", "report", first, "--report", "完成")
    cli.run("--as", "zhao", "--now", "2026-11-06 09:00", "verify", first)
    later = ("--now", "2026-11-12 09:00")
    rows = list(csv.reader(io.StringIO(cli.run("--as", "zhao", *later, "ledger", "--csv").stdout)))
    assert rows[0][:4] == ["编号", "事项", "来源", "状态"]
    assert [(r[0], r[3], r[11], r[12]) for r in rows[1:]] == [
        (second, "已交办", "红", "未启动: 查原因"), (first, "已核查", "—", "已办结: 查效果")]
    shown = cli.run("--as", "zhao", *later, "ledger", "--overdue").stdout
    assert "教辅材料自查" in shown and "校园安全隐患排查" not in shown
    assert "基础教育科" in cli.run("--as", "zhao", *later, "ledger", "--zero").stdout
    cli.run("--as", "zhao", *later, "ledger", "--xlsx", str(tmp_path / "out.xlsx"))
    sheet = load_workbook(tmp_path / "out.xlsx")["台账"]
    assert (sheet["A1"].value, sheet["A3"].value, sheet.max_row) == ("督查督办事项台账", "编号", 5)
    # 剩余工作日: the overdue item's count, the verified one's none
    assert [(sheet.cell(r, 1).value, sheet.cell(r, 14).value) for r in (4, 5)] == [
        (int(second), -3), (int(first), None)]
    ranked = cli.json("--as", "zhao", *later, "assess", "--period", "2026-11")
    [jjk] = ranked["standings"]
    assert (jjk["key"], jjk["items"], jjk["on_time"], jjk["overdue"]) == ("JJK", 2, 1, 1)
    assert ranked["total"]["instruction_rate"] == 1.0
    text = cli.run("--as", "zhao", *later, "circular", "--period", "2026-11").stdout
    assert "督通〔2026〕1号" in text and "关于2026年11月督查督办工作情况的通报" in text
    assert "已经发布过" in cli.error("--as", "zhao", *later, "circular", "--period", "2026-11",
                                     code=5)
    assert "无法识别的时段" in cli.error("--as", "zhao", "assess", "--period", "十一月", code=2)
    bad = Workbook()
    bad.active.append(["事项", "责任单位", "完成时限"])
    bad.active.append(["食堂改造", "后勤科", "2026-12-10"])
    bad.save(tmp_path / "bad.xlsx")
    done = cli.run("--as", "zhao", *now, "import", str(tmp_path / "bad.xlsx"), code=2)
    assert done.stderr.splitlines() == ["错误: 任务清单有 1 处问题, 未导入任何事项:",
                                        "  第 2 行 [责任单位]: 未知单位“后勤科”"]
    assert "找不到文件" in cli.error("--as", "zhao", "import", "nope.xlsx", code=2)
