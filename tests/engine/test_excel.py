"""Excel in and out: the ledger round trip, and task lists checked whole before importing."""

from __future__ import annotations

from datetime import datetime

import pytest
from openpyxl import Workbook, load_workbook

from duban.engine.errors import InvalidInput
from duban.engine.excel import ImportProblems
from duban.engine.ledger import LedgerFilter
from tests.conftest import ADMIN, local

FIELDS = ("title", "lead_unit", "current_deadline", "goal", "measures", "source", "lead_leader",
          "co_units")


def workbook(path, rows, header=("事项", "责任单位", "完成时限")):
    book = Workbook()
    sheet = book.active
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    book.save(path)
    return path


def item_count(service) -> int:
    return len(service.items(ADMIN, limit=10_000))


def test_an_exported_ledger_imports_back(office, tmp_path):
    o = office
    o.service.new_item("zhao", _spec("推进城乡学校共同体建设", "JJK", "2026-12-18 17:30",
                                     goal="组建12个共同体", measures="结对帮扶；教师交流",
                                     source="key_task", lead_leader="chen", co_units=("AQK",)))
    o.item(unit="AQK", deadline="2026-12-31 18:00", title="校车安全专项检查", source="instruction")
    path = tmp_path / "ledger.xlsx"
    assert o.service.export_ledger(ADMIN, LedgerFilter(open_only=True), path) == 2
    book = load_workbook(path)
    assert book.sheetnames == ["台账", "清零", "跟踪问效"]
    assert book["台账"].freeze_panes == "A2"
    assert book["台账"]["O2"].fill.fgColor.rgb.endswith("C6EFCE")  # green: weeks ahead
    before = {item["id"]: item for item in o.service.items(ADMIN)}
    created = o.service.import_task_list("zhao", path)
    assert len(created) == 2
    after = {item["id"]: item for item in o.service.items(ADMIN)}
    originals = sorted(before.values(), key=lambda i: i["current_deadline"])
    for original, new_id in zip(originals, created, strict=True):
        copy = after[new_id]
        assert {f: copy[f] for f in FIELDS} == {f: original[f] for f in FIELDS}


def test_a_task_list_is_read_as_offices_write_it(office, tmp_path):
    header = ("序号", " 工作任务 ", "牵头\n领导", "配合单位", "主办单位", "办理时限", "任务来源")
    path = workbook(tmp_path / "tasks.xlsx", [
        (1, "开展冬季校园安全隐患大排查", "陈局长", "基础教育科、市第一中学", "安全稳定科",
         datetime(2026, 12, 10), "领导批示件"),
        (2, "教辅材料征订自查", "", "", "JJK", "2026年12月20日", ""),
        (3, "食堂改造进度调度", "chen", "", "市第一中学", "10个工作日", "重点工作"),
    ], header=header)
    created = office.service.import_task_list("zhao", path)
    first, second, third = (office.service.item(ADMIN, i) for i in created)
    assert (first["lead_unit"], first["co_units"], first["lead_leader"], first["source"]) == (
        "AQK", ["JJK", "SYZ"], "chen", "instruction")
    assert first["current_deadline"] == local("2026-12-10 23:59:59")
    assert (second["lead_unit"], second["source"]) == ("JJK", "other")
    assert second["current_deadline"] == local("2026-12-20 23:59:59")
    assert third["current_deadline"] == local("2026-11-16 23:59:59")  # 10 working days on
    # one 交办通知 per unit listing its tasks, none per task (防止增加基层负担)
    assert all(office.service.notices(ADMIN, i) == [] for i in created)
    listed = [office.service.notice(ADMIN, n["id"])
              for n in office.service.notice_list(ADMIN, kind="assignment_list")]
    assert sorted(n["payload"]["unit"] for n in listed) == ["AQK", "JJK", "SYZ"]
    aqk = next(n for n in listed if n["payload"]["unit"] == "AQK")
    assert aqk["recipients"] == ["zheng"] and aqk["doc_number"].startswith("督办〔2026〕")
    assert "现将《tasks》中由你单位牵头办理的1项任务交办如下" in aqk["body_text"]
    assert "开展冬季校园安全隐患大排查" in aqk["body_text"]


def test_a_bad_task_list_reports_every_problem_and_writes_nothing(office, tmp_path):
    before = item_count(office.service)
    path = workbook(tmp_path / "bad.xlsx", [
        ("食堂改造", "后勤科", "2026-12-10"),
        ("", "JJK", "2026-12-10"),
        ("课后服务", "JJK", "2026-02-30"),
        ("午餐管理", "JJK", "下个月吧"),
        ("教辅清理", "JJK", "2026-10-01"),
        ("校车检查", "AQK", datetime(2026, 12, 1)),
    ])
    with pytest.raises(ImportProblems) as caught:
        office.service.import_task_list("zhao", path)
    assert [str(p) for p in caught.value.problems] == [
        "第 2 行 [责任单位]: 未知单位“后勤科”",
        "第 3 行 [事项]: 事项不能为空",
        "第 4 行 [完成时限]: 日期不存在“2026-02-30”",
        "第 5 行 [完成时限]: 无法识别的期限“下个月吧”: 请写成 2026-12-10、10个工作日、15天、"
        "3个月或 2小时",
        "第 6 行 [完成时限]: 完成时限已经过去",
    ]
    assert "任务清单有 5 处问题, 未导入任何事项" in caught.value.message
    assert item_count(office.service) == before


def test_missing_columns_and_merged_headers_are_refused(office, tmp_path):
    missing = workbook(tmp_path / "missing.xlsx", [("排查", "JJK")], header=("事项", "责任单位"))
    with pytest.raises(ImportProblems, match="缺少必需的列: 完成时限"):
        office.service.import_task_list("zhao", missing)
    book = Workbook()
    sheet = book.active
    sheet.append(["事项", "责任单位", "完成时限", ""])
    sheet.merge_cells("C1:D1")
    sheet.append(["排查", "JJK", "2026-12-10"])
    book.save(tmp_path / "merged.xlsx")
    with pytest.raises(ImportProblems, match="表头有合并单元格 C1:D1"):
        office.service.import_task_list("zhao", tmp_path / "merged.xlsx")
    nothing = workbook(tmp_path / "plain.xlsx", [("甲", "乙", "丙")], header=("A", "B", "C"))
    with pytest.raises(ImportProblems, match="找不到表头"):
        office.service.import_task_list("zhao", nothing)
    (tmp_path / "not.xlsx").write_text("not a workbook", encoding="utf-8")
    with pytest.raises(InvalidInput, match="不是可读取的 Excel 工作簿"):
        office.service.import_task_list("zhao", tmp_path / "not.xlsx")


def _spec(title, unit, deadline, **extra):
    from duban.engine.items import NewItem

    return NewItem(title=title, lead_unit=unit, deadline=local(deadline), **extra)
