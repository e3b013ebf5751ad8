"""Files a user gives that are broken or built to hurt: workbooks, year files, paths to write.
Each is refused in one line (InvalidInput), quickly and in little memory, leaving nothing
behind; exported text stays text."""

from __future__ import annotations

import io
import os
import pwd
import shutil
import stat
import tempfile
import zipfile
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from openpyxl import load_workbook

from duban.engine import userfiles, workbooks
from duban.engine.calendar_store import read_year_file
from duban.engine.errors import InvalidInput
from duban.engine.excel import ImportProblems, read_task_list
from duban.engine.ledger import LedgerFilter
from tests.conftest import ADMIN

NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
PKG = "http://schemas.openxmlformats.org/package/2006"
DOC = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
ML = "application/vnd.openxmlformats-officedocument.spreadsheetml"


def _parts() -> dict[str, str]:
    return {
        "[Content_Types].xml": (
            f'<?xml version="1.0"?><Types xmlns="{PKG}/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{ML}.sheet.main+xml"/>'
            f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{ML}.worksheet+xml"/>'
            f'<Override PartName="/xl/sharedStrings.xml" ContentType="{ML}.sharedStrings+xml"/>'
            "</Types>"),
        "_rels/.rels": (
            f'<?xml version="1.0"?><Relationships xmlns="{PKG}/relationships"><Relationship '
            f'Id="rId1" Type="{DOC}/officeDocument" Target="xl/workbook.xml"/></Relationships>'),
        "xl/workbook.xml": (
            f'<?xml version="1.0"?><workbook {NS} xmlns:r="{DOC}"><sheets>'
            '<sheet name="任务清单" sheetId="1" r:id="rId1"/></sheets></workbook>'),
        "xl/_rels/workbook.xml.rels": (
            f'<?xml version="1.0"?><Relationships xmlns="{PKG}/relationships">'
            f'<Relationship Id="rId1" Type="{DOC}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{DOC}/sharedStrings" Target="sharedStrings.xml"/>'
            "</Relationships>"),
        "xl/sharedStrings.xml": shared(),
    }


def cell(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


HEADER = [cell("A1", "事项"), cell("B1", "责任单位"), cell("C1", "完成时限")]
GOOD_ROW = [cell("A2", "排查"), cell("B2", "JJK"), cell("C2", "2027-01-05")]


def sheet(rows: dict[int, list[str]], dimension: str | None = None, tail: str = "") -> str:
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    body = "".join(f'<row r="{n}">{"".join(cells)}</row>' for n, cells in rows.items())
    return f'<?xml version="1.0"?><worksheet {NS}>{dim}<sheetData>{body}</sheetData>{tail}' \
           "</worksheet>"


def shared(*texts: str) -> str:
    items = "".join(f"<si><t>{text}</t></si>" for text in texts)
    return f'<?xml version="1.0"?><sst {NS} count="{len(texts)}">{items}</sst>'


def xlsx(sheet_xml: str, parts: dict[str, str] | None = None) -> bytes:
    files = {**_parts(), "xl/worksheets/sheet1.xml": sheet_xml, **(parts or {})}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return out.getvalue()


def billion_laughs(root: str) -> str:
    entities = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{level} "{f"&lol{level - 1};" * 10}">' for level in range(1, 10))
    return f'<?xml version="1.0"?><!DOCTYPE {root} [{entities}]><{root} {NS}><si><t>&lol9;' \
           f"</t></si></{root}>"


GOOD = xlsx(sheet({1: HEADER, 2: GOOD_ROW}))
FAR_CORNER = {1: HEADER, 1048576: [cell("XFD1048576", "x")]}

# name → (workbook bytes, part of the one-line answer)
HOSTILE = {
    "not a zip": (b"PK\x03\x04 this is not really a workbook", "不是可读取的 Excel 工作簿"),
    "plain text": ("事项,责任单位\n".encode(), "不是 zip 格式"),
    "truncated zip": (GOOD[: len(GOOD) // 2], "不是可读取的 Excel 工作簿"),
    "broken sheet xml": (xlsx(sheet({1: HEADER}).replace("</sheetData>", "<row>")),
                         "不是可读取的 Excel 工作簿"),
    "broken workbook xml": (xlsx(sheet({1: HEADER}), parts={"xl/workbook.xml": "<workbook"}),
                            "不是可读取的 Excel 工作簿"),
    "raw NUL in a cell": (xlsx(sheet({1: HEADER, 2: [cell("A2", "排\x00查")]})),
                          "不是可读取的 Excel 工作簿"),
    "billion laughs in shared strings": (
        xlsx(sheet({1: HEADER, 2: ['<c r="A2" t="s"><v>0</v></c>']}),
             parts={"xl/sharedStrings.xml": billion_laughs("sst")}),
        "XML 中声明了实体"),
    "billion laughs in the sheet": (xlsx(billion_laughs("worksheet")), "XML 中声明了实体"),
    "a cell at XFD1048576, declared": (xlsx(sheet(FAR_CORNER, dimension="A1:XFD1048576")),
                                       "范围到 XFD1048576, 超出上限"),
    "a cell at XFD1048576, no dimension": (xlsx(sheet(FAR_CORNER)), "超过 100000 行"),
    "a cell at XFD1048576, dimension lies": (xlsx(sheet(FAR_CORNER, dimension="A1:C2")),
                                             "超过 100000 行"),
    "a wrong type in the workbook": (
        xlsx(sheet({1: HEADER}),
             parts={"xl/workbook.xml": _parts()["xl/workbook.xml"].replace('sheetId="1"',
                                                                         'sheetId="x"')}),
        "不是可读取的 Excel 工作簿"),
    "a shared string that is not there": (
        xlsx(sheet({1: HEADER, 2: ['<c r="A2" t="s"><v>99</v></c>']})),
        "不是可读取的 Excel 工作簿"),
    "a nonsense merged range": (
        xlsx(sheet({1: HEADER}, tail='<mergeCells><mergeCell ref="nonsense"/></mergeCells>')),
        "不是可读取的 Excel 工作簿"),
}


def check(path: Path):
    return read_task_list(path, units={"JJK": "基础教育科"}, people={},
                          tz=ZoneInfo("Asia/Shanghai"),
                          parse_deadline=lambda text: datetime(2027, 1, 5))


def test_defusedxml_is_what_openpyxl_parses_with():
    assert openpyxl.DEFUSEDXML is True


def test_a_well_formed_raw_workbook_reads(tmp_path):
    path = tmp_path / "good.xlsx"
    path.write_bytes(GOOD)
    found = check(path)
    assert (found.rows, found.problems) == (1, [])


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_workbook_is_refused_in_one_line(tmp_path, name):
    data, answer = HOSTILE[name]
    path = tmp_path / "hostile.xlsx"
    path.write_bytes(data)
    with pytest.raises(InvalidInput) as caught:
        check(path)
    assert answer in caught.value.message
    assert "\n" not in caught.value.message


@pytest.mark.parametrize("text, shown", [
    ("排_x0000_查", "U+0000 (写作 _x0000_)"), ("排\x7f查", "U+007F"), ("排\x85查", "U+0085")])
def test_control_characters_in_a_cell_are_refused_with_row_and_column(tmp_path, text, shown):
    path = tmp_path / "control.xlsx"
    row = [cell("A3", text), cell("B3", "JJK"), cell("C3", "2027-01-05")]
    path.write_bytes(xlsx(sheet({1: HEADER, 2: GOOD_ROW, 3: row})))
    found = check(path)
    assert [str(p) for p in found.problems] == [
        f"第 3 行 [事项]: 含有控制字符 {shown}, 请删除后再导入"]


def test_an_over_long_cell_is_refused(tmp_path):
    path = tmp_path / "long.xlsx"
    long = "长" * (workbooks.MAX_CELL_TEXT + 1)
    path.write_bytes(xlsx(sheet({1: HEADER, 2: [cell("A2", "排查"), cell("B2", long),
                                               cell("C2", "2027-01-05")]})))
    [problem] = check(path).problems
    assert str(problem) == "第 2 行 [责任单位]: 文字过长(32768 字), 一个单元格最多 32767 字"


def test_a_workbook_too_large_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "big.xlsx"
    with path.open("wb") as handle:
        handle.truncate(workbooks.MAX_BYTES + 1)  # sparse: costs no disk
    with pytest.raises(InvalidInput, match="Excel 文件 .* 太大, 上限 20 MB"):
        check(path)


def test_a_zip_claiming_more_than_the_unpacked_bound_is_refused(tmp_path):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in _parts().items():
            archive.writestr(name, text)
        archive.writestr("xl/worksheets/sheet1.xml", b" " * (workbooks.MAX_UNPACKED + 1))
    path = tmp_path / "bomb.xlsx"
    path.write_bytes(out.getvalue())
    with pytest.raises(InvalidInput, match="解压后 200 MB, 上限 200 MB"):
        check(path)


def test_nothing_is_imported_from_a_hostile_workbook(office, tmp_path):
    before = len(office.service.items(ADMIN, limit=10_000))
    path = tmp_path / "lol.xlsx"
    path.write_bytes(HOSTILE["billion laughs in shared strings"][0])
    with pytest.raises(InvalidInput, match="XML 中声明了实体"):
        office.service.import_task_list("zhao", path)
    path.write_bytes(xlsx(sheet({1: HEADER, 2: [cell("A2", "排_x0000_查"), cell("B2", "JJK"),
                                                cell("C2", "2027-01-05")]})))
    with pytest.raises(ImportProblems, match="第 2 行 \\[事项\\]: 含有控制字符 U\\+0000"):
        office.service.import_task_list("zhao", path)
    assert len(office.service.items(ADMIN, limit=10_000)) == before


# -- reading paths ------------------------------------------------------------------------------

def test_unusable_input_paths_are_answered_in_one_line(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for given, answer in (
        (tmp_path / "missing.xlsx", "找不到文件"),
        (tmp_path, "是目录, 请给出文件"),
        (Path("/dev/zero"), "不是普通文件(设备或管道)"),
        (fifo, "不是普通文件(设备或管道)"),  # opened without waiting for a writer
        ("a\x00b.xlsx", "路径含有空字符(NUL)"),
        (os.fsdecode(b"\xff\xfe.xlsx"), "路径含有无法识别的字符"),
        ("\ud800.xlsx", "路径含有无法识别的字符"),
        ("", "路径为空"),
    ):
        with pytest.raises(InvalidInput, match=answer.replace("(", r"\(").replace(")", r"\)")):
            userfiles.read_bounded(given, 1000)


def test_a_file_without_read_permission_is_answered_in_one_line(open_folder):
    secret = open_folder / "secret.xlsx"
    secret.write_bytes(b"x")
    secret.chmod(0o600)
    with as_nobody(), pytest.raises(InvalidInput) as caught:
        userfiles.read_bounded(secret, 100)
    assert caught.value.message == f"无法读取 {secret}: 没有权限 (Permission denied)"


@pytest.fixture
def open_folder():
    """A folder everybody may enter (pytest's own are root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="duban-hostile-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


@contextmanager
def as_nobody():
    """Root passes every permission check, so the call runs with nobody's effective user id
    (the real one stays root, so it can be set back)."""
    if os.geteuid() != 0:
        yield  # already not root: permissions apply as they are
        return
    try:
        nobody = pwd.getpwnam("nobody").pw_uid
    except KeyError:
        pytest.skip("no user nobody to run as")
    os.seteuid(nobody)
    try:
        yield
    finally:
        os.seteuid(0)


# -- year files ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, answer", [
    ('year = 2027\nholidays = 5\n', 'holidays 应为日期列表, 如 ["2027-01-01"], 不是 5'),
    ("year = true\n", "year 应为 2000 到 2100 之间的整数年份, 不是 true"),
    ("year = -1\n", "year 应为 2000 到 2100 之间的整数年份, 不是 -1"),
    ("year = 99999\n", "year 应为 2000 到 2100 之间的整数年份, 不是 99999"),
    ("year = 1800\n", "year 应为 2000 到 2100 之间的整数年份, 不是 1800"),
    ('year = "2027"\n', 'year 应为 2000 到 2100 之间的整数年份, 不是 "2027"'),
    ("year = 2027\nholidays = " + "[" * 5000 + "]" * 5000 + "\n",
     "不是有效的 TOML 文件: holidays 的数组或表嵌套层数过多"),
    ('year = 2027\nsource = "' + "x" * 1_000_000 + '"\n', "source 过长(1000000 字), 最多 200 字"),
    ('year = 2027\nsource = "a\\u0000b"\n', "source 含有控制字符或换行"),
    ("year = 2027\nstatus = 3\n", "status 只能是 official 或 provisional, 不是 3"),
    ('year = 2027\nholidays = [["2027-01-01"]]\n', "holidays 中的 一个列表(1 项) 不是日期"),
    ("year = 2027\nholidays = [2027-01-01T10:00:00]\n",
     "holidays 中的 2027-01-01 10:00:00 不是日期"),
    ("year = 2027\nworkdays = [" + ", ".join(['"2027-01-01"'] * 367) + "]\n",
     "workdays 有 367 项, 一年最多 366 天"),
    ("year = 2027\nholidays = [2026-05-01]\n", "2026-05-01 不在 2027 年内"),
    ("year = 2027\n[extra]\nx = 1\n", "未知设置项 extra"),
    ("year = 2027\nyear = 2028\n", "不是有效的 TOML 文件"),
])
def test_a_hostile_year_file_is_refused_naming_the_field(tmp_path, text, answer):
    path = tmp_path / "2027.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInput) as caught:
        read_year_file(path)
    assert answer in caught.value.message
    assert "\n" not in caught.value.message and len(caught.value.message) < 2000


def test_a_year_file_may_write_toml_dates(tmp_path):
    path = tmp_path / "2027.toml"
    path.write_text("year = 2027\nholidays = [2027-01-01, \"2027-01-04\"]\n", encoding="utf-8")
    assert len(read_year_file(path).holidays) == 2


@pytest.mark.parametrize("given, answer", [
    ("/dev/zero", "/dev/zero 不是普通文件(设备或管道), 无法读取"),
    ("latin1", "不是 UTF-8 编码的文本文件"),
    ("big", "日历文件 {path} 太大, 上限 1 MB"),
])
def test_a_year_file_is_read_within_bounds(tmp_path, given, answer):
    path = Path(given) if given.startswith("/") else tmp_path / f"{given}.toml"
    if given == "latin1":
        path.write_bytes('year = 2027\nsource = "é"\n'.encode("latin-1"))
    elif given == "big":
        path.write_bytes(b"# " + b"x" * userfiles.MEGABYTE)
    with pytest.raises(InvalidInput) as caught:
        read_year_file(path)
    assert caught.value.message.endswith(answer.format(path=path)) or \
        answer.format(path=path) in caught.value.message


# -- writing paths ------------------------------------------------------------------------------

def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


def test_an_output_file_appears_whole_with_the_usual_mode(tmp_path):
    target = tmp_path / "out.bin"
    with userfiles.output_file(target) as handle:
        handle.write(b"first")
        assert not target.exists()  # written beside it, renamed at the end
    assert target.read_bytes() == b"first"
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    target.chmod(0o640)
    with userfiles.output_file(target) as handle:
        handle.write(b"second")
    assert (target.read_bytes(), stat.S_IMODE(target.stat().st_mode)) == (b"second", 0o640)
    assert leftovers(tmp_path) == []


def test_a_failed_write_leaves_the_old_file_and_no_half_file(tmp_path):
    target = tmp_path / "ledger.xlsx"
    target.write_bytes(b"old")
    with pytest.raises(InvalidInput, match="无法写入 .*ledger.xlsx: 磁盘空间不足"):
        with userfiles.output_file(target) as handle:
            handle.write(b"half")
            raise OSError(28, os.strerror(28))
    assert target.read_bytes() == b"old"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("given, answer", [
    ("{tmp}", "{tmp} 是目录, 请给出文件名"),
    ("{tmp}/missing/x.xlsx", "无法写入 {tmp}/missing/x.xlsx: 文件夹 {tmp}/missing 不存在"),
    ("{tmp}/x\x00.xlsx", "路径含有空字符(NUL)"),
    ("{tmp}/\udcff.xlsx", "路径含有无法识别的字符"),
    ("/dev/full", "无法写入 /dev/full: 磁盘空间不足 (No space left on device)"),
    # sysfs refuses new files even to root: a real EACCES without changing users
    ("/sys/duban-test.xlsx", "无法写入 /sys/duban-test.xlsx: 没有权限"),
])
def test_unusable_output_paths_are_answered_in_one_line(tmp_path, given, answer):
    with pytest.raises(InvalidInput) as caught:
        with userfiles.output_file(given.format(tmp=tmp_path)) as handle:
            handle.write(b"x" * 100_000)
    assert caught.value.message.startswith(answer.format(tmp=tmp_path))
    assert leftovers(tmp_path) == []


def test_a_folder_without_write_permission_is_answered_in_one_line(open_folder):
    target = open_folder / "x.xlsx"
    with as_nobody(), pytest.raises(InvalidInput) as caught:
        with userfiles.output_file(target) as handle:
            handle.write(b"x")
    assert caught.value.message == f"无法写入 {target}: 没有权限 (Permission denied)"
    assert list(open_folder.iterdir()) == []


# -- exported text stays text -------------------------------------------------------------------

FORMULAS = ('=HYPERLINK("http://x","y")', "+1", "-1+2", "@SUM(A1)", "-1", "=1+1")


def test_exported_text_is_never_a_formula(office, tmp_path):
    for title in FORMULAS[:4]:
        office.item(title=title, goal=FORMULAS[4], measures=FORMULAS[5])
    path = tmp_path / "ledger.xlsx"
    assert office.service.export_ledger(ADMIN, LedgerFilter(), path) == 4
    book = load_workbook(path)
    cells = [c for sheet in book.worksheets for row in sheet.iter_rows() for c in row]
    assert [c.coordinate for c in cells if c.data_type == "f"] == []
    ledger = book["台账"]
    assert sorted(ledger.cell(row, 2).value for row in range(4, 8)) == sorted(FORMULAS[:4])
    assert {ledger.cell(row, 3).value for row in range(4, 8)} == {FORMULAS[4]}
    assert all(isinstance(ledger.cell(row, 1).value, int) for row in range(4, 8))  # ids
    assert all(isinstance(ledger.cell(row, 14).value, int) for row in range(4, 8))  # workdays
    assert "=HYPERLINK" in book["清零"].cell(4, 5).value
    assert leftovers(tmp_path) == []
