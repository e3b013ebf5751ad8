"""Opening a workbook a user gives, within bounds.

An ``.xlsx`` file is a zip of XML parts, and each layer can be hostile: a file that is not a
zip or is cut short, parts that unpack to gigabytes, XML that is broken or declares entities
("billion laughs"), or a sheet that claims (or has) a cell at XFD1048576 so that walking its
grid takes minutes and gigabytes. Each is refused in one line, before the work it would cost:

- the file is read whole, at most ``MAX_BYTES``, and never reopened (it cannot change meanwhile);
- the zip's parts are counted and their unpacked sizes added up before anything is parsed;
- the XML is parsed with defusedxml (openpyxl uses it when installed), which refuses entities;
- sheets are read in openpyxl's read-only mode, streamed row by row, at most ``MAX_ROWS`` rows
  and ``MAX_COLUMNS`` columns: the sheet's dimension record is checked first, and since it may
  lie, the rows are counted again while they stream.

Workbooks duban writes (the ledger, its clear-to-zero view) are tables as an office prints
them: a title, the scope and the date made, a header row repeated on every page, thin borders,
columns as wide as their text, A4 landscape at the page's width (:class:`Tables`).
"""

from __future__ import annotations

import io
import re
import unicodedata
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from itertools import chain, islice
from pathlib import Path
from typing import Any
from zipfile import ZIP_DEFLATED, ZIP_STORED, BadZipFile, LargeZipFile, ZipFile

from duban.engine import userfiles
from duban.engine.errors import InvalidInput

MAX_BYTES = 20 * userfiles.MEGABYTE
MAX_UNPACKED = 200 * userfiles.MEGABYTE  # all parts together, as the zip declares them
MAX_PARTS = 10_000
MAX_ROWS = 100_000
MAX_COLUMNS = 200
MAX_CELL_TEXT = 32_767  # Excel's own limit for one cell
EXCEL_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")

# What openpyxl and the layers under it raise on a malformed workbook. Each is a kind of bad
# input here: a missing part (KeyError), a value its descriptors refuse (TypeError,
# ValueError; defusedxml's EntitiesForbidden is a ValueError), broken XML (SyntaxError covers
# both ElementTree's ParseError and lxml's XMLSyntaxError), a damaged zip or stream.
MALFORMED = (BadZipFile, LargeZipFile, zlib.error, EOFError, KeyError, TypeError, ValueError,
             SyntaxError, IndexError)


def unreadable(reason: object) -> InvalidInput:
    """The one line for a workbook that cannot be read, ``reason`` being an error or a text."""
    if isinstance(reason, BaseException) and _declares_entities(reason):
        reason = "XML 中声明了实体(可能是恶意构造的文件), 不予读取"
    text = " ".join(str(reason).split())[:200] or type(reason).__name__
    return InvalidInput(f"不是可读取的 Excel 工作簿: {text}")


def _declares_entities(err: BaseException) -> bool:
    """Whether defusedxml refused the XML, here or under openpyxl's own wrapping error."""
    from defusedxml import DefusedXmlException

    seen: BaseException | None = err
    for _ in range(10):  # causes are a short chain; bounded all the same
        if seen is None:
            return False
        if isinstance(seen, DefusedXmlException):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def open_workbook(path: Path | str) -> Any:
    """The workbook at ``path``, read-only and data-only; the caller closes it."""
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    data = userfiles.read_bounded(path, MAX_BYTES, "Excel 文件")
    _check_parts(data)
    try:
        return load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, *MALFORMED) as err:
        raise unreadable(err) from None


def _check_parts(data: bytes) -> None:
    try:
        with ZipFile(io.BytesIO(data)) as archive:
            parts = archive.infolist()
    except (BadZipFile, LargeZipFile, EOFError, ValueError) as err:
        raise unreadable(f"不是 zip 格式或文件不完整 ({err})") from None
    if len(parts) > MAX_PARTS:
        raise unreadable(f"包含 {len(parts)} 个部件, 上限 {MAX_PARTS}")
    for part in parts:
        # zipfile would raise RuntimeError or NotImplementedError on these; Excel writes neither
        if part.flag_bits & 0x1:
            raise unreadable(f"部件 {part.filename[:80]} 已加密")
        if part.compress_type not in (ZIP_STORED, ZIP_DEFLATED):
            raise unreadable(f"部件 {part.filename[:80]} 的压缩方式不受支持")
    # The declared sizes bound the real ones: zipfile stops reading a part at its declared
    # size (and then fails its checksum), so a part cannot unpack to more than it claims.
    unpacked = sum(part.file_size for part in parts)
    if unpacked > MAX_UNPACKED:
        raise unreadable(f"解压后 {unpacked // userfiles.MEGABYTE} MB, 上限 "
                         f"{MAX_UNPACKED // userfiles.MEGABYTE} MB")


def check_size(sheet: Any) -> int | None:
    """Refuse a sheet whose dimension record claims more than the bounds; the rows it claims
    (None when it claims nothing). The record is then dropped, so that the rows are read as
    they are, not as it says (it may claim less than there is)."""
    from openpyxl.utils import get_column_letter

    try:
        rows, columns = sheet.max_row, sheet.max_column
    except MALFORMED as err:
        raise unreadable(err) from None
    if (rows or 0) > MAX_ROWS or (columns or 0) > MAX_COLUMNS:
        corner = f"{get_column_letter(min(columns or 1, 18_278))}{rows or 1}"
        raise InvalidInput(f"工作表“{sheet.title}”的范围到 {corner}, 超出上限 (最多 "
                           f"{MAX_ROWS} 行、{MAX_COLUMNS} 列): 请删除多余的行列后再导入")
    sheet.reset_dimensions()
    return rows


def rows(sheet: Any, *, min_row: int, max_row: int | None = None,
         max_col: int = MAX_COLUMNS) -> Iterator[tuple[Any, ...]]:
    """The sheet's values row by row, ``max_col`` wide; refused past ``MAX_ROWS`` rows.
    Only openpyxl's own step is guarded, so an error of the caller's is never taken for a
    malformed file."""
    stream = sheet.iter_rows(min_row=min_row, max_row=max_row, max_col=max_col,
                             values_only=True)
    number = min_row - 1
    while True:
        try:
            cells = next(stream)
        except StopIteration:
            return
        except MALFORMED as err:
            raise unreadable(err) from None
        number += 1
        if number > MAX_ROWS:
            raise InvalidInput(f"工作表“{sheet.title}”超过 {MAX_ROWS} 行 (第 {number} 行仍有"
                               "内容或格式): 请删除多余的行或分成几个文件导入")
        yield cells


def merged_ranges(book: Any, sheet: Any) -> list[Any]:
    """The sheet's merged cells. Read-only sheets do not keep them, so the sheet's part is
    scanned for its ``mergeCell`` elements, streamed and through defusedxml like the rest."""
    from openpyxl.worksheet.cell_range import CellRange
    from openpyxl.xml.functions import iterparse

    found = []
    try:
        with book._archive.open(sheet._worksheet_path) as part:
            for _, element in iterparse(part):
                if element.tag.endswith("}mergeCell"):
                    found.append(CellRange(element.get("ref")))
                element.clear()
    except MALFORMED as err:
        raise unreadable(err) from None
    return found


def control_character(text: str) -> str | None:
    """The first control character in ``text`` (tab and line breaks are text), as U+XXXX.
    Excel writes one that XML cannot hold as ``_xHHHH_``; openpyxl leaves that as it is, so
    the escaped form counts too."""
    for char in text:
        if _is_control(char):
            return f"U+{ord(char):04X}"
    for escaped in EXCEL_ESCAPE.finditer(text):
        if _is_control(chr(int(escaped[1], 16))):
            return f"U+{escaped[1].upper()} (写作 {escaped[0]})"
    return None


def _is_control(char: str) -> bool:
    return (char < " " and char not in "\t\n\r") or "\x7f" <= char <= "\x9f"


# -- writing: a table as an office prints it ------------------------------------------------

FONT = "宋体"
TITLE_SIZE = 16
BODY_SIZE = 10
LINE_HEIGHT = 14  # points per line of 10-point text, with the little it needs around it
HEADER_FILL = "D9E1F2"
SAMPLE_ROWS = 500  # rows read ahead to size the columns: a streamed sheet fixes them first
PADDING = 1  # width units beside the widest text, so that no cell shows ### or clips
HEADING_ROWS = 3  # title; scope and date; header
WORD = re.compile(r"[^\s\u2e80-\uffff]+|\s+|.")  # a Latin word, a run of spaces, a character


@dataclass(frozen=True)
class Column:
    """A column of a written table. Its width follows the widest value of the first rows
    (:data:`SAMPLE_ROWS`), kept between ``least`` and ``most``; text wider than that wraps.
    Widths are in Excel's unit, about one Latin character: a CJK character takes two."""

    title: str
    least: int
    most: int
    centre: bool = False


@dataclass(frozen=True)
class Shown:
    """A value with how it shows: a number format (dates, signed counts) and a fill colour
    (RGB hex), both on top of the column's style."""

    value: Any
    number_format: str = ""
    fill: str = ""


@lru_cache(maxsize=65_536)
def _char_width(char: str) -> int:
    return 2 if unicodedata.east_asian_width(char) in "WFA" else 1


def text_width(text: str) -> int:
    """How wide ``text`` shows, in Excel's width unit: wide and ambiguous East Asian
    characters (汉字, full-width punctuation, —) count two; the widest line counts."""
    if text.isascii():
        return max(map(len, text.split("\n")))
    return max(sum(map(_char_width, line)) for line in text.split("\n"))


def line_count(text: str, width: int) -> int:
    """How many lines ``text`` takes in a column ``width`` units wide, wrapped as a
    spreadsheet wraps it: between any two CJK characters, Latin words whole unless a word is
    wider than the line. Reckoned at two units a CJK character, a little more than it takes,
    so that a row is never too low for its text."""
    room = max(width, 1)
    if len(text) * 2 <= room and "\n" not in text:
        return 1  # the usual short cell, answered without measuring
    lines = 0
    for paragraph in text.split("\n"):
        lines += 1
        used = 0
        for word in WORD.findall(paragraph):
            size = _char_width(word) if len(word) == 1 else text_width(word)
            if word.isspace():
                used = min(used + size, room)  # a line's trailing spaces take no new line
                continue
            if used + size <= room:
                used += size
                continue
            if used:  # the word starts the next line
                lines += 1
            while size > room:  # and splits where it is wider than a line
                lines += 1
                size -= room
            used = size
    return lines


def row_height(values: Sequence[Any], widths: Sequence[int]) -> float | None:
    """The height (points) a row of wrapped text needs; None when one line will do (the
    sheet's default height). Set, not left to the program that opens the file: not every
    one grows a row to fit its text."""
    lines = 1
    for value, width in zip(values, widths, strict=False):
        text = value.value if isinstance(value, Shown) else value
        if isinstance(text, str):
            lines = max(lines, line_count(text, width))
    return LINE_HEIGHT * lines + 2 if lines > 1 else None


def _shown_width(value: Any) -> int:
    if isinstance(value, Shown):
        if isinstance(value.value, date | datetime) and value.number_format:
            return len(value.number_format)  # yyyy-mm-dd hh:mm shows as many characters
        value = value.value
    if value is None:
        return 0
    return text_width(value if isinstance(value, str) else str(value))


def column_widths(columns: Sequence[Column], rows: Iterable[Sequence[Any]]) -> list[int]:
    """Each column's width for these rows, within its bounds."""
    widest = [0] * len(columns)
    for values in rows:
        for index, value in enumerate(values[:len(columns)]):
            widest[index] = max(widest[index], _shown_width(value))
    return [min(max(width + PADDING, column.least), column.most)
            for width, column in zip(widest, columns, strict=True)]


class Tables:
    """Sheets of one write-only workbook, each a table as an office prints it (:meth:`add`).

    A body cell's style (font, border, alignment, number format, fill) is made once for
    each combination and copied into every cell that has it: one copy per cell, where
    setting five styles would look each up in the workbook's tables five times."""

    def __init__(self, book: Any) -> None:
        from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

        self.book = book
        thin = Side(style="thin", color="000000")
        self.border = Border(left=thin, right=thin, top=thin, bottom=thin)
        self.body = Font(name=FONT, size=BODY_SIZE)
        self.bold = Font(name=FONT, size=BODY_SIZE, bold=True)
        self.title = Font(name=FONT, size=TITLE_SIZE, bold=True)
        self.header_fill = PatternFill("solid", fgColor=HEADER_FILL)
        self.alignments = {centre: Alignment(horizontal="center" if centre else "left",
                                             vertical="center", wrap_text=True)
                           for centre in (False, True)}
        self.styles: dict[tuple[bool, str, str], Any] = {}

    def add(self, name: str, columns: Sequence[Column], rows: Iterable[Sequence[Any]], *,
            title: str, scope: str = "", made: str = "", filters: bool = False) -> Any:
        """A sheet holding ``rows`` under a title row, a row with ``scope`` on the left and
        ``made`` (制表日期) on the right, and the header row.

        Rows are streamed after the first :data:`SAMPLE_ROWS`, which size the columns; each
        cell has a thin border and wraps its text, each row is as high as its text. The sheet
        prints on A4 landscape scaled to the page's width, as many pages down as it takes,
        the header row repeated on each and the page number in the footer; the panes are
        frozen below the header. ``filters`` puts Excel's filter buttons on the header.
        Users' text is stored as text, never a formula."""
        from openpyxl.utils import get_column_letter

        sheet = self.book.create_sheet(name)
        stream = iter(rows)
        sample = list(islice(stream, SAMPLE_ROWS))
        widths = column_widths(columns, sample)
        for index, width in enumerate(widths, 1):
            sheet.column_dimensions[get_column_letter(index)].width = width
        _print_setup(sheet)
        self._heading(sheet, columns, widths, title, scope, made)
        number = HEADING_ROWS
        for values in chain(sample, stream):
            number += 1
            height = row_height(values, widths)
            if height is not None:
                sheet.row_dimensions[number].height = height
            sheet.append([self._cell(sheet, value, column.centre)
                          for value, column in zip(values, columns, strict=True)])
            if height is not None:
                del sheet.row_dimensions[number]  # written with its row; kept, they pile up
        if filters:
            sheet.auto_filter.ref = f"A{HEADING_ROWS}:{get_column_letter(len(columns))}{number}"
        return sheet

    def _cell(self, sheet: Any, value: Any, centre: bool) -> Any:
        """A body cell: even an empty one is a cell, so that it has its border."""
        shown = value if isinstance(value, Shown) else Shown(value)
        key = (centre, shown.number_format, shown.fill)
        style = self.styles.get(key)
        if style is None:
            style = self.styles[key] = self._style(sheet, *key)
        return _text_safe_cell(sheet, shown.value, style)

    def _style(self, sheet: Any, centre: bool, number_format: str, fill: str) -> Any:
        from openpyxl.cell import Cell
        from openpyxl.styles import PatternFill

        model = Cell(sheet)
        model.font, model.border, model.alignment = self.body, self.border, \
            self.alignments[centre]
        if number_format:
            model.number_format = number_format
        if fill:
            model.fill = PatternFill("solid", fgColor=fill)
        return model._style  # the style array openpyxl copies into each cell made with it

    def _plain(self, sheet: Any, value: str, font: Any, horizontal: str) -> Any:
        """A heading cell, styled on its own."""
        from openpyxl.styles import Alignment

        made = _text_safe_cell(sheet, value)
        made.font = font
        made.alignment = Alignment(horizontal=horizontal, vertical="center", wrap_text=True)
        return made

    def _heading(self, sheet: Any, columns: Sequence[Column], widths: Sequence[int],
                 title: str, scope: str, made: str) -> None:
        """The title across the table; the scope over its left part, the date over the rest
        (or after the scope, on a narrow table); the header row, bold on a fill."""
        from openpyxl.utils import get_column_letter

        last = get_column_letter(len(columns))
        sheet.row_dimensions[1].height = TITLE_SIZE * 2
        sheet.append([self._plain(sheet, title, self.title, "center")])
        sheet.merged_cells.add(f"A1:{last}1")
        split = _notes_split(widths, scope, made)
        if split is None:
            text = "　".join(part for part in (scope, made) if part)
            sheet.row_dimensions[2].height = LINE_HEIGHT * line_count(text, sum(widths)) + 6
            sheet.append([self._plain(sheet, text, self.body, "left")])
            sheet.merged_cells.add(f"A2:{last}2")
        else:
            sheet.row_dimensions[2].height = LINE_HEIGHT + 6
            sheet.append([self._plain(sheet, scope, self.body, "left"), *[None] * (split - 1),
                          self._plain(sheet, made, self.body, "right")])
            for first, end in ((1, split), (split + 1, len(columns))):
                if end > first:
                    sheet.merged_cells.add(
                        f"{get_column_letter(first)}2:{get_column_letter(end)}2")
        titles = [_header_text(column.title, width) for column, width in zip(columns, widths,
                                                                               strict=True)]
        sheet.row_dimensions[HEADING_ROWS].height = (row_height(titles, widths)
                                                     or LINE_HEIGHT + 4)
        header = []
        for text in titles:
            cell = self._plain(sheet, text, self.bold, "center")
            cell.border, cell.fill = self.border, self.header_fill
            header.append(cell)
        sheet.append(header)


def _header_text(title: str, width: int) -> str:
    """A header too wide for its column, broken in the middle (牵头 / 领导), not after the
    last character that fits (牵头领 / 导). Read back, a line break in a header counts for
    nothing."""
    if line_count(title, width) == 1 or len(title) < 2 or "\n" in title:
        return title
    middle = len(title) // 2
    return f"{title[:middle]}\n{title[middle:]}"


def _notes_split(widths: Sequence[int], scope: str, made: str) -> int | None:
    """How many columns the scope takes so that it fits on one line, the date taking the
    rest; None when the table is too narrow for both."""
    need = text_width(scope) + PADDING
    taken = 0
    for split, width in enumerate(widths[:-1], 1):
        taken += width
        if taken >= need:
            return split if sum(widths[split:]) >= text_width(made) + PADDING else None
    return None


def _print_setup(sheet: Any) -> None:
    """A4 landscape, as wide as the page and as long as it takes, the header on every page,
    the page number below. Set before the first row: a streamed sheet writes these first."""
    from openpyxl.worksheet.page import PageMargins
    from openpyxl.worksheet.properties import PageSetupProperties
    from openpyxl.worksheet.worksheet import Worksheet

    sheet.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = Worksheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0  # as many pages down as the rows take
    sheet.page_margins = PageMargins(left=0.4, right=0.4, top=0.6, bottom=0.7, header=0.3,
                                     footer=0.3)
    sheet.print_options.horizontalCentered = True
    sheet.print_title_rows = f"{HEADING_ROWS}:{HEADING_ROWS}"
    sheet.HeaderFooter.oddFooter.center.text = "第 &P 页 共 &N 页"
    sheet.freeze_panes = f"A{HEADING_ROWS + 1}"


def _text_safe_cell(sheet: Any, value: Any, style: Any = None) -> Any:
    """A cell holding ``value`` as it is: text stays text (never a formula), numbers and dates
    stay what they are. Characters XML cannot hold (control characters) become U+FFFD."""
    from openpyxl.cell import Cell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if not isinstance(value, str):
        return Cell(sheet, row=1, column=1, value=value, style_array=style)
    made = Cell(sheet, row=1, column=1, value=ILLEGAL_CHARACTERS_RE.sub("\ufffd", value),
                style_array=style)
    made.data_type = "s"  # openpyxl reads a leading "=" as a formula; this is the user's text
    return made
