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
"""

from __future__ import annotations

import io
import re
import zlib
from collections.abc import Iterator
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
