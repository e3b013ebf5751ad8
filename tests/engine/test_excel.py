"""Excel in and out: the ledger round trip and its printed form, and task lists checked whole
before importing."""

from __future__ import annotations

from datetime import datetime

import pytest
from openpyxl import Workbook, load_workbook
from openpyxl.utils import get_column_letter

from duban.engine.errors import InvalidInput
from duban.engine.excel import LEDGER_COLUMNS, ImportProblems, write_ledger
from duban.engine.ledger import LedgerFilter, describe, workflow_labels
from duban.engine.workbooks import (
    HEADER_FILL,
    HEADING_ROWS,
    LINE_HEIGHT,
    Column,
    column_widths,
    line_count,
    text_width,
)
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
    assert book["台账"].freeze_panes == "A4"  # below the title, the scope and the header
    assert book["台账"]["O4"].fill.fgColor.rgb.endswith("C6EFCE")  # green: weeks ahead
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
    assert "现将《标准督办任务清单》中由你单位牵头办理的1项任务交办如下" in aqk["body_text"]
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


# -- the printed ledger -------------------------------------------------------------------------

LONG_TITLE = "落实局长批示: 开展冬季校园安全隐患大排查, 逐校排查燃气、消防、校舍并建立整改台账"


@pytest.fixture
def three_items(office):
    """Monday 2 November: one item weeks ahead with a long title, one due on the 4th (overdue
    by the 12th), one done on the 3rd and verified though due on the 5th; the clock then
    stands on Thursday 12 November."""
    o = office
    ahead = o.item(deadline="2026-11-30 18:00", title=LONG_TITLE, lead_leader="chen")
    late = o.item(deadline="2026-11-04 18:00", title="=1+1", unit="AQK")
    done = o.item(deadline="2026-11-05 18:00", title="教辅材料征订自查")
    o.fire("wang", ahead, "sign")
    o.fire("wang", done, "sign")
    o.fire("wang", done, "report", report="完成")
    o.fire("zhao", done, "verify", note="经核查属实")
    o.clock.set(local("2026-11-12 10:00"))
    return {"ahead": ahead, "late": late, "done": done}


def by_id(sheet) -> dict[int, int]:
    """Item number → row of the 台账 sheet."""
    return {sheet.cell(row, 1).value: row for row in range(HEADING_ROWS + 1, sheet.max_row + 1)}


def test_the_ledger_prints_on_a4_landscape_with_a_title_borders_and_the_header_on_each_page(
        office, three_items, tmp_path):
    path = tmp_path / "ledger.xlsx"
    assert office.service.export_ledger(ADMIN, LedgerFilter(), path) == 3
    sheet = load_workbook(path)["台账"]
    width = len(LEDGER_COLUMNS)
    assert (sheet["A1"].value, sheet["A1"].font.b, sheet["A1"].font.sz) == (
        "督查督办事项台账", True, 16)
    assert f"A1:{get_column_letter(width)}1" in {str(r) for r in sheet.merged_cells.ranges}
    assert sheet["A2"].value == "范围：全部事项"
    header = [sheet.cell(HEADING_ROWS, column).value for column in range(1, width + 1)]
    assert [title.replace("\n", "") for title in header] == [c.title for c in LEDGER_COLUMNS]
    assert all(sheet.cell(HEADING_ROWS, column).font.b for column in range(1, width + 1))
    assert sheet["A3"].fill.fgColor.rgb.endswith(HEADER_FILL)
    rows = by_id(sheet)
    assert set(rows) == set(three_items.values())
    table = sheet.iter_rows(min_row=HEADING_ROWS, max_row=sheet.max_row, max_col=width)
    sides = {(side.style for side in (c.border.left, c.border.right, c.border.top,
                                      c.border.bottom)) for row in table for c in row}
    assert {tuple(s) for s in sides} == {("thin",) * 4}  # empty cells too
    long_row = rows[three_items["ahead"]]
    assert sheet.cell(long_row, 2).value == LONG_TITLE
    assert sheet.cell(long_row, 2).alignment.wrap_text
    assert sheet.column_dimensions["B"].width == 20  # capped: the title wraps instead
    assert sheet.row_dimensions[long_row].height >= 2 * LINE_HEIGHT
    late_title = sheet.cell(rows[three_items["late"]], 2)
    assert (late_title.value, late_title.data_type) == ("=1+1", "s")  # text, not a formula
    setup = sheet.page_setup
    assert (setup.orientation, int(setup.paperSize)) == ("landscape", 9)
    assert (setup.fitToWidth, setup.fitToHeight) == (1, 0)
    assert sheet.sheet_properties.pageSetUpPr.fitToPage
    assert sheet.print_title_rows == f"${HEADING_ROWS}:${HEADING_ROWS}"  # the header row
    assert sheet.oddFooter.center.text == "第 &P 页 共 &N 页"
    assert sheet.freeze_panes == f"A{HEADING_ROWS + 1}"
    assert sheet.auto_filter.ref == f"A{HEADING_ROWS}:{get_column_letter(width)}{sheet.max_row}"


def test_working_days_left_are_empty_once_done_and_read_overdue_while_open(
        office, three_items, tmp_path):
    path = tmp_path / "ledger.xlsx"
    office.service.export_ledger(ADMIN, LedgerFilter(), path)
    sheet = load_workbook(path)["台账"]
    rows = by_id(sheet)
    left = {row["id"]: row["workdays_left"]
            for row in office.service.ledger_page(ADMIN, LedgerFilter())[0]}
    column = 1 + [c.title for c in LEDGER_COLUMNS].index("剩余工作日")
    done, late, ahead = (sheet.cell(rows[three_items[k]], column)
                         for k in ("done", "late", "ahead"))
    assert left[three_items["done"]] < 0  # its deadline has passed, but it is done
    assert done.value is None
    assert late.value == left[three_items["late"]] < 0
    assert late.number_format == '0;"逾期"0;0'  # shows 逾期6, as the text ledger says it
    assert ahead.value == left[three_items["ahead"]] > 0


def test_the_heading_says_what_was_chosen_and_when_and_workflows_by_their_label(
        office, three_items, tmp_path):
    service = office.service
    flt = LedgerFilter(unit="JJK", open_only=True)
    rows, _ = service.ledger_page(ADMIN, flt, limit=None)
    units = {unit["code"]: unit["name"] for unit in service.units(ADMIN)}
    people = {person["login"]: person["name"] for person in service.people(ADMIN)}
    path = tmp_path / "ledger.xlsx"
    written = write_ledger(path, rows, service.clear_to_zero(ADMIN), people, service.tz,
                           made=office.clock.now(),
                           scope=describe(flt, service.registry, units, people),
                           workflows=workflow_labels(service.registry))
    assert written == 2
    book = load_workbook(path)
    sheet = book["台账"]
    notes = [c.value for c in sheet[2] if c.value]
    assert notes == ["范围：责任单位 基础教育科；未销号", "制表日期：2026年11月12日"]
    split = next(c.column for c in sheet[2] if c.value and c.value.startswith("制表日期"))
    assert f"A2:{get_column_letter(split - 1)}2" in {str(r) for r in sheet.merged_cells.ranges}
    assert sheet[2][split - 1].alignment.horizontal == "right"
    column = 1 + [c.title for c in LEDGER_COLUMNS].index("工作流")
    assert {sheet.cell(row, column).value for row in by_id(sheet).values()} == {"标准督办"}
    for name in ("清零", "跟踪问效"):
        assert book[name]["A1"].value and book[name].print_title_rows == "$3:$3"
        assert "制表日期：2026年11月12日" in " ".join(str(c.value) for c in book[name][2])


@pytest.mark.parametrize("text, width, lines", [
    ("校园安全", 8, 1),  # four CJK characters fill eight units
    ("校园安全排查", 8, 2),
    ("abc abc abc", 6, 3),  # Latin words are not split: "abc ab" would take the line
    ("abcdefghijkl", 5, 3),  # unless it is wider than the line
    ("第一行\n第二行", 20, 2),
])
def test_text_is_measured_with_cjk_characters_counting_two(text, width, lines):
    assert line_count(text, width) == lines
    assert text_width("督办ab") == 6


def test_columns_are_as_wide_as_their_text_within_their_bounds():
    columns = (Column("编号", 4, 6), Column("事项", 10, 20), Column("备注", 6, 10))
    widths = column_widths(columns, [[7, "督查督办", None], [123456789, "督" * 30, "a"]])
    assert widths == [6, 20, 6]  # the number is capped, the title capped, the empty at least
