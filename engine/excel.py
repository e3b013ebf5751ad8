"""Excel in and out: the ledger as a workbook, and task lists (任务清单) read from one.

A task list is checked whole before anything is written: every problem is reported at once
(一次性告知: row, column, what is wrong), and nothing is imported unless every row is valid.
Header names are matched as offices write them, ignoring spaces, line breaks and order; an
exported ledger reads back as a task list.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from duban.engine import userfiles, workbooks
from duban.engine.errors import InvalidInput
from duban.engine.items import NewItem
from duban.engine.ledger import COLOURS, FOLLOW_UP, shown_workdays_left
from duban.engine.models import SOURCE_LABELS
from duban.engine.timeutil import END_OF_DAY

# Each field and the header names offices use for it (compared without spaces).
HEADERS: dict[str, tuple[str, ...]] = {
    "title": ("事项", "事项名称", "督办事项", "任务", "任务名称", "工作任务", "重点任务"),
    "goal": ("目标", "工作目标", "目标任务"),
    "measures": ("工作举措", "举措", "主要措施", "工作措施", "具体措施"),
    "leader": ("牵头领导", "分管领导", "责任领导"),
    "unit": ("责任单位", "牵头单位", "承办单位", "主办单位"),
    "co_units": ("协办单位", "配合单位", "参与单位"),
    "deadline": ("完成时限", "办理时限", "完成时间", "时限", "期限"),
    "source": ("来源", "任务来源", "事项来源"),
}
REQUIRED = ("title", "unit", "deadline")
LABELS = {"title": "事项", "goal": "目标", "measures": "工作举措", "leader": "牵头领导",
          "unit": "责任单位", "co_units": "协办单位", "deadline": "完成时限", "source": "来源"}
SPLIT_UNITS = re.compile(r"[、,，;；/\s]+")
CN_DATE = re.compile(r"^(\d{4})\s*[年./-]\s*(\d{1,2})\s*[月./-]\s*(\d{1,2})\s*日?$")
FILLS = {"green": "C6EFCE", "yellow": "FFEB9C", "red": "FFC7CE"}


@dataclass
class Problem:
    row: int
    column: str
    message: str

    def __str__(self) -> str:
        where = f"第 {self.row} 行" if self.row else "表头"
        return f"{where}{f' [{self.column}]' if self.column else ''}: {self.message}"


@dataclass
class TaskList:
    items: list[tuple[int, NewItem]] = field(default_factory=list)  # (row, item)
    problems: list[Problem] = field(default_factory=list)
    rows: int = 0
    title: str = ""  # the title a row above the header gives the list (2026年重点工作任务清单)


class ImportProblems(InvalidInput):
    """The whole report of a task list that cannot be imported."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        shown = "; ".join(str(p) for p in problems[:20])
        more = f"; 另有 {len(problems) - 20} 处" if len(problems) > 20 else ""
        super().__init__(f"任务清单有 {len(problems)} 处问题, 未导入任何事项: {shown}{more}")


def _normal(text: Any) -> str:
    return re.sub(r"\s+", "", str(text or "")).replace("（", "(").replace("）", ")")


def read_task_list(
    path: Path,
    *,
    units: Mapping[str, str],
    people: Mapping[str, str],
    tz: ZoneInfo,
    parse_deadline: Callable[[str], datetime],
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> TaskList:
    """Read and check a task list. ``units`` maps code → name, ``people`` login → name;
    ``parse_deadline`` reads a text deadline ("10个工作日", "2026-12-31")."""
    book = workbooks.open_workbook(path)
    try:
        return _check_rows(book, units=units, people=people, tz=tz,
                           parse_deadline=parse_deadline, progress=progress)
    finally:
        book.close()


def _check_rows(book: Any, *, units: Mapping[str, str], people: Mapping[str, str],
                tz: ZoneInfo, parse_deadline: Callable[[str], datetime],
                progress: Callable[[int, int], None]) -> TaskList:
    sheet = _task_sheet(book)
    declared = workbooks.check_size(sheet)
    result = TaskList()
    header_row, columns = _find_header(book, sheet, result.problems)
    if header_row is None:
        return result
    result.title = _title_above(sheet, header_row)
    unit_by = _lookup(units)
    person_by = _lookup(people)
    source_by = {_normal(label): kind.value for kind, label in SOURCE_LABELS.items()}
    source_by.update({kind.value: kind.value for kind in SOURCE_LABELS})
    total = max((declared or 0) - header_row, 0)
    width = max(columns.values()) + 1
    for offset, cells in enumerate(workbooks.rows(sheet, min_row=header_row + 1, max_col=width)):
        row_number = header_row + 1 + offset
        values = {name: cells[index] if index < len(cells) else None
                  for name, index in columns.items()}
        if all(value is None or str(value).strip() == "" for value in values.values()):
            continue
        result.rows += 1
        item = _read_row(row_number, values, unit_by, person_by, source_by, tz, parse_deadline,
                         result.problems)
        if item is not None:
            result.items.append((row_number, item))
        if offset % 500 == 0:
            progress(offset, total)
    progress(total, total)
    if result.rows == 0 and not result.problems:
        result.problems.append(Problem(0, "", "表中没有任何事项"))
    return result


def _task_sheet(book: Any) -> Any:
    for name in ("任务清单", "台账"):
        if name in book.sheetnames and book[name] in book.worksheets:
            return book[name]
    if not book.worksheets:
        raise workbooks.unreadable("没有工作表")
    return book.worksheets[0]


def _title_above(sheet: Any, header_row: int) -> str:
    """The list's own title: the first row above the header holding one text and no more."""
    if header_row <= 1:
        return ""
    for cells in workbooks.rows(sheet, min_row=1, max_row=header_row - 1):
        texts = [str(cell).strip() for cell in cells if cell is not None and str(cell).strip()]
        if len(texts) == 1 and 2 <= len(texts[0].strip("《》")) <= 100:
            return texts[0].strip("《》 ")
    return ""


def _find_header(book: Any, sheet: Any,
                 problems: list[Problem]) -> tuple[int | None, dict[str, int]]:
    """The first of the top rows naming at least two known columns."""
    wanted = {_normal(alias): name for name, aliases in HEADERS.items() for alias in aliases}
    for row_number, cells in enumerate(workbooks.rows(sheet, min_row=1, max_row=6), 1):
        columns: dict[str, int] = {}
        for index, cell in enumerate(cells):
            name = wanted.get(_normal(cell))
            if name is not None and name not in columns:
                columns[name] = index
        if len(columns) < 2:
            continue
        for merged in workbooks.merged_ranges(book, sheet):
            if merged.min_row <= row_number <= merged.max_row:
                problems.append(Problem(0, "", f"表头有合并单元格 {merged.coord}: 请取消合并, "
                                               "每列一个表头"))
        missing = [LABELS[name] for name in REQUIRED if name not in columns]
        if missing:
            problems.append(Problem(0, "", f"缺少必需的列: {'、'.join(missing)}"))
        return (None, {}) if problems else (row_number, columns)
    problems.append(Problem(0, "", "找不到表头: 前 6 行中应有 事项、责任单位、完成时限 等列名"))
    return None, {}


def _lookup(names: Mapping[str, str]) -> dict[str, str | None]:
    """Code or name → code; a name two entries share maps to None (ambiguous)."""
    found: dict[str, str | None] = {}
    for code, name in names.items():
        key = _normal(name)
        found[key] = None if key in found and found[key] != code else code
    for code in names:
        found[_normal(code)] = code
    return found


def _read_row(row: int, values: Mapping[str, Any], unit_by: Mapping[str, str | None],
              person_by: Mapping[str, str | None], source_by: Mapping[str, str], tz: ZoneInfo,
              parse_deadline: Callable[[str], datetime],
              problems: list[Problem]) -> NewItem | None:
    before = len(problems)

    def bad(name: str, message: str) -> None:
        problems.append(Problem(row, LABELS[name], message))

    for name, value in values.items():
        if not isinstance(value, str):
            continue
        control = workbooks.control_character(value)
        if len(value) > workbooks.MAX_CELL_TEXT:
            bad(name, f"文字过长({len(value)} 字), 一个单元格最多 {workbooks.MAX_CELL_TEXT} 字")
        elif control:
            # refused, not stripped: the office's text is imported as written or not at all
            bad(name, f"含有控制字符 {control}, 请删除后再导入")
    if len(problems) > before:
        return None

    title = str(values.get("title") or "").strip()
    if not title:
        bad("title", "事项不能为空")
    unit = _match(values.get("unit"), unit_by, "unit", "单位", bad)
    if values.get("unit") in (None, ""):
        bad("unit", "责任单位不能为空")
    co_units = []
    for name in SPLIT_UNITS.split(str(values.get("co_units") or "").strip()):
        if name:
            code = _match(name, unit_by, "co_units", "单位", bad)
            if code:
                co_units.append(code)
    leader = _match(values.get("leader"), person_by, "leader", "人员", bad) \
        if values.get("leader") not in (None, "") else None
    deadline = _deadline(values.get("deadline"), tz, parse_deadline, bad)
    source_text = _normal(values.get("source"))
    source = source_by.get(source_text, None) if source_text else "other"
    if source is None:
        known = "、".join(SOURCE_LABELS.values())
        bad("source", f"未知来源“{_clip(values.get('source'))}”; 可用: {known}")
    if len(problems) > before:
        return None
    return NewItem(title=title, lead_unit=unit, deadline=deadline,
                   goal=str(values.get("goal") or "").strip(),
                   measures=str(values.get("measures") or "").strip(),
                   source=source, lead_leader=leader, co_units=tuple(co_units))


def _clip(raw: Any, length: int = 40) -> str:
    """A cell's text short enough to quote in a one-line message."""
    text = str(raw)
    return text if len(text) <= length else text[:length] + "…"


def _match(raw: Any, table: Mapping[str, str | None], name: str, what: str,
           bad: Callable[[str, str], None]) -> str | None:
    if raw in (None, ""):
        return None
    key = _normal(raw)
    if key not in table:
        bad(name, f"未知{what}“{_clip(raw)}”")
        return None
    if table[key] is None:
        bad(name, f"“{_clip(raw)}”对应多个{what}, 请改用代码")
        return None
    return table[key]


def _deadline(raw: Any, tz: ZoneInfo, parse_deadline: Callable[[str], datetime],
              bad: Callable[[str, str], None]) -> datetime | None:
    if raw in (None, ""):
        bad("deadline", "完成时限不能为空")
        return None
    if isinstance(raw, datetime):
        moment = raw if raw.time() != time(0, 0) else datetime.combine(raw.date(), END_OF_DAY)
        return moment.replace(tzinfo=tz) if moment.tzinfo is None else moment
    if isinstance(raw, date):
        return datetime.combine(raw, END_OF_DAY, tzinfo=tz)
    text = str(raw).strip()
    match = CN_DATE.match(text)
    if match:
        try:
            day = date(*(int(part) for part in match.groups()))
        except ValueError:
            bad("deadline", f"日期不存在“{text}”")
            return None
        return datetime.combine(day, END_OF_DAY, tzinfo=tz)
    try:
        return parse_deadline(text)
    except InvalidInput as err:
        bad("deadline", err.message)
        return None


# -- export -----------------------------------------------------------------------------------

Column = workbooks.Column
# Caps keep the 19 columns on an A4 landscape page at a readable scale: long text wraps.
LEDGER_COLUMNS = (
    Column("编号", 4, 6, centre=True), Column("事项", 14, 20), Column("目标", 6, 12),
    Column("工作举措", 6, 12), Column("牵头领导", 6, 7, centre=True),
    Column("责任单位", 8, 10), Column("协办单位", 6, 10),
    Column("完成时限", 11, 17, centre=True), Column("来源", 6, 13, centre=True),
    Column("原定时限", 11, 17, centre=True), Column("时限说明", 6, 8),
    Column("工作流", 6, 9, centre=True), Column("状态", 6, 11, centre=True),
    Column("剩余工作日", 7, 8, centre=True), Column("颜色", 4, 4, centre=True),
    Column("跟踪问效", 8, 8), Column("最新进展", 8, 14), Column("下一步由", 6, 9, centre=True),
    Column("佐证材料", 4, 4, centre=True),
)
CLEAR_COLUMNS = (Column("单位", 8, 16), Column("未销号", 6, 8, centre=True),
                 Column("逾期", 6, 8, centre=True), Column("最早时限", 10, 18, centre=True),
                 Column("最早的事项", 20, 80))
FOLLOW_COLUMNS = (Column("分类", 24, 30), Column("事项数", 10, 12, centre=True))
# An overdue item's count shows as 逾期N, as the text ledger says it; the cell stays a number.
WORKDAYS_FORMAT = '0;"逾期"0;0'


def write_ledger(path: Path, rows: Iterable[Mapping[str, Any]], clear: list[dict[str, Any]],
                 people: Mapping[str, str], tz: ZoneInfo, *, made: datetime | None = None,
                 scope: str = "", workflows: Mapping[str, str] | None = None) -> int:
    """The ledger, the clear-to-zero view and the follow-up classes, one sheet each, each
    printable as an office's table (:class:`duban.engine.workbooks.Tables`).

    ``made`` (the service's now) dates the sheets (制表日期), ``scope`` says what the filter
    chose (:func:`duban.engine.ledger.describe`), ``workflows`` maps a workflow's name to its
    label (:func:`duban.engine.ledger.workflow_labels`); without them the sheets carry no
    date, say 全部事项 and show the workflow's name.
    The file is written whole or not at all (see :mod:`duban.engine.userfiles`); it is opened
    before the workbook is built, so a path that cannot be written is refused before any work.
    Users' text is stored as text: a title starting with ``=`` is never a formula."""
    with userfiles.output_file(path) as handle:
        sink = userfiles.HeldErrorWriter(handle)
        book, count = _build_ledger(rows, clear, people, tz, made=made, scope=scope,
                                    workflows=workflows or {})
        book.save(sink)
        sink.raise_held()
    return count


def made_text(made: datetime | None, tz: ZoneInfo) -> str:
    """制表日期 as a heading says it: 制表日期：2026年12月3日."""
    if made is None:
        return ""
    day = made.astimezone(tz).date()
    return f"制表日期：{day.year}年{day.month}月{day.day}日"


def _build_ledger(rows: Iterable[Mapping[str, Any]], clear: list[dict[str, Any]],
                  people: Mapping[str, str], tz: ZoneInfo, *, made: datetime | None,
                  scope: str, workflows: Mapping[str, str]) -> tuple[Any, int]:
    from openpyxl import Workbook

    book = Workbook(write_only=True)  # streamed: a million rows without a million cells
    follow: dict[str, int] = {}
    count = 0
    dated = made_text(made, tz)
    chosen = f"范围：{scope or '全部事项'}"

    def ledger_rows() -> Iterable[list[Any]]:
        nonlocal count
        for row in rows:
            count += 1
            follow[row["follow_up"]] = follow.get(row["follow_up"], 0) + 1
            yield [
                row["id"], row["title"], row["goal"], row["measures"],
                people.get(row["lead_leader"] or "", row["lead_leader"] or ""),
                row["lead_unit_name"], "、".join(row["co_unit_names"]),
                _when(row["current_deadline"], tz), row["source_label"],
                _when(row["original_deadline"], tz),
                "暂定(节假日未公布)" if row["deadline_provisional"]
                else (row["deadline_reason"] or ""),
                workflows.get(row["workflow"], row["workflow"]), row["state_label"],
                workbooks.Shown(shown_workdays_left(row), WORKDAYS_FORMAT),
                workbooks.Shown(COLOURS[row["colour"]], fill=FILLS.get(row["colour"], "")),
                FOLLOW_UP[row["follow_up"]], row["last_progress"], row["next_actor"],
                row["evidence_count"],
            ]

    tables = workbooks.Tables(book)
    tables.add("台账", LEDGER_COLUMNS, ledger_rows(), title="督查督办事项台账", scope=chosen,
               made=dated, filters=True)
    tables.add(
        "清零", CLEAR_COLUMNS,
        ([unit["unit_name"], unit["open"], unit["overdue"],
          _when(unit["oldest"], tz), "；".join(f"{i['id']} {i['title']}" for i in unit["items"])]
         for unit in clear),
        title="未销号事项清零表", scope="各单位未销号事项，多的在前", made=dated)
    # counted while the 台账 sheet streamed: its rows are all written by now
    tables.add("跟踪问效", FOLLOW_COLUMNS,
               ([label, follow.get(key, 0)] for key, label in FOLLOW_UP.items()),
               title="跟踪问效分类统计", scope=chosen, made=dated)
    return book, count


def _when(value: datetime, tz: ZoneInfo) -> workbooks.Shown:
    """A moment as a local date cell; the time shows unless it is the day's end (the usual
    deadline), so that a date column stays narrow. The cell holds the whole moment."""
    moment = value.astimezone(tz).replace(tzinfo=None)
    shown = "yyyy-mm-dd" if moment.time() == END_OF_DAY else "yyyy-mm-dd hh:mm"
    return workbooks.Shown(moment, shown)
