"""Typesetting for the printed layouts, after GB/T 9704-2012 on A4: a title broken into
lines by meaning (:func:`title_lines`), a table's columns sized to the text block
(:func:`column_widths`, :func:`fit_table` for Word) and the heading level of a body
paragraph (:func:`outline`). Pure functions of text, apart from the Word table they size.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from itertools import accumulate
from typing import Any

# GB/T 9704-2012 on A4: 37mm above, 35mm below, 28mm inside (订口) and 26mm outside leave a
# text block (版心) of 156mm x 225mm. The title is 2号 (22pt): 20 characters to a line.
# The circular's table is set at 12pt (小四).
TEXT_WIDTH_PT = 156 / 25.4 * 72
TITLE_PER_LINE = int(TEXT_WIDTH_PT // 22)
TABLE_PER_LINE = TEXT_WIDTH_PT / 12
CELL_PADDING = 1.2  # a cell's padding (half a character each side) and its borders

# A line may not start with closing punctuation nor end with opening punctuation (避头尾).
NO_LINE_START = "”’）》〉」』】〕，。、；：！？…—％)]},.;:!?%>"
NO_LINE_END = "“‘（《〈「『【〔([{<"
PHRASE_ENDS = "的和与及并、，；"
# Words of the kinds' titles and of the items they quote, which a break must not split
# (词意完整); a break beside one of them is preferred to a break between unknown characters.
TITLE_WORDS = frozenset("""
关于 通知 通报 督办函 督促 督查 督办 办理 预警 问责 建议 提醒函 提醒 约谈 延期 申请 审批
结果 情况 报告 报送 销号 办结 时限 调整 交办 重办 退回 按期 进展 工作 事项 任务 单位 负责人
批示件 批示 同志 黄色 红色 发出 不力 问题 本月 回访 签收 及时 有关 工单 待审批 学校 学生
校园 安全 隐患 排查 整治 整改 专项 治理 教育 教学 教师 督导 评估 考核 资助 资金 经费 足额
按时 发放 推进 落实 开展 建设 建立 完善 加强 加快 提升 实施 意见 方案 计划 城乡 全市 全区
全县 中小学 幼儿园 高中 义务 共同体 长效 机制 冬季 夏季 暑期 寒假 食堂 校舍 改造 工程 周边
局长 市长 热线 投诉 信访 巡视 反馈 提案 代表 委员 年度 季度 服务 管理 监督 检查 保障 质量
标准 规范 课后 校外 培训 减负 欺凌 防溺水 消防 交通 食品 卫生 健康 心理 体育 美育 劳动
德育 招生 入学 学位 资源 均衡 发展 改革 创新 信息化 智慧 平台 系统 明厨亮灶
""".split())


def _em(char: str) -> float:
    """A character's advance in a Chinese font, in characters: Chinese characters, full-width
    forms and the curly quotes take one, Latin letters, digits and spaces a half."""
    if unicodedata.east_asian_width(char) in "WF" or char in "“”‘’—…":
        return 1.0
    return 0.5


def text_em(text: str) -> float:
    return sum(_em(char) for char in text)


def title_lines(title: str, per_line: int = TITLE_PER_LINE) -> list[str]:
    """The title broken into lines the way GB/T 9704 asks (7.3.1: 词意完整, 排列对称): each line
    at most ``per_line`` characters, as even as the words allow, breaking after a quotation or
    a phrase (…”, …的) rather than inside a word, never before closing punctuation, and never
    leaving one or two characters alone on a line."""
    text = " ".join(title.split())
    total = text_em(text)
    if total <= per_line or len(text) < 6:
        return [text] if text else []
    edges = list(accumulate((_em(char) for char in text), initial=0.0))
    inside, word_edges = _word_marks(text)
    costs = [0.0, *(_break_cost(text, at, inside, word_edges) for at in range(1, len(text))),
             0.0]
    fewest = math.ceil(total / per_line)
    found = []
    for count in (fewest, fewest + 1):
        result = _best_breaks(edges, costs, count, per_line)
        if result is not None:
            found.append((result[0] + 25.0 * (count - fewest), result[1]))
    if not found:
        return _greedy_lines(text, per_line)
    breaks = min(found)[1]
    return [text[start:end].strip() for start, end in zip([0, *breaks], [*breaks, len(text)],
                                                          strict=True)]


def _word_marks(text: str) -> tuple[set[int], set[int]]:
    """Break positions inside one of :data:`TITLE_WORDS`, and those at one's edge."""
    inside: set[int] = set()
    edges: set[int] = set()
    for word in TITLE_WORDS:
        start = text.find(word)
        while start >= 0:
            inside.update(range(start + 1, start + len(word)))
            edges.update((start, start + len(word)))
            start = text.find(word, start + 1)
    return inside, edges - inside


def _break_cost(text: str, at: int, inside: set[int], edges: set[int]) -> float:
    """How badly a line break between ``text[at - 1]`` and ``text[at]`` reads."""
    before, after = text[at - 1], text[at]
    if after in NO_LINE_START or before in NO_LINE_END:
        return 500.0
    if before.isascii() and after.isascii() and " " not in (before, after):
        return 400.0  # inside a Latin word or a number
    if before in "”’》）)>" or after in "“‘《（(<":
        cost = 0.0  # beside a quotation: the quoted item title stays whole if it can
    elif before in PHRASE_ENDS:
        cost = 4.0
    elif " " in (before, after):
        cost = 10.0
    elif at in edges:
        cost = 20.0
    else:
        cost = 30.0
    if at in inside:
        cost += 40.0
    if after == "的":
        cost += 20.0  # a line that starts with 的 reads as a fragment
    if before.isdigit():
        cost += 15.0  # 2026|年
    return cost


BALANCE = 0.5  # the cost of a line one character longer or shorter than the even length, squared


def _best_breaks(edges: list[float], costs: list[float], count: int,
                 per_line: float) -> tuple[float, list[int]] | None:
    """The cheapest ``count`` lines (least squared distance from even lines plus the cost of
    each break), or None if no line of them can be at least three characters long."""
    size = len(edges) - 1
    even = edges[-1] / count
    best: list[dict[int, tuple[float, int]]] = [{0: (0.0, -1)}]
    for _ in range(count):
        row: dict[int, tuple[float, int]] = {}
        for start, (cost, _) in best[-1].items():
            end = start + 1
            while end <= size and edges[end] - edges[start] <= per_line:
                width = edges[end] - edges[start]
                if width >= 3:
                    total = cost + BALANCE * (even - width) ** 2 + costs[end]
                    if end not in row or total < row[end][0]:
                        row[end] = (total, start)
                end += 1
        best.append(row)
    if size not in best[-1]:
        return None
    breaks, at = [], size
    for line in range(count, 0, -1):
        at = best[line][at][1]
        breaks.append(at)
    breaks = sorted(breaks)[1:]
    return best[-1][size][0], breaks


def _greedy_lines(text: str, per_line: int) -> list[str]:
    """Full lines, the last one given characters from the one before if it is too short:
    for a title no better break suits (a Latin word longer than a line)."""
    lines, line = [], ""
    for char in text:
        if line and text_em(line + char) > per_line:
            lines.append(line)
            line = ""
        line += char
    lines.append(line)
    while len(lines) > 1 and text_em(lines[-1]) < 3 and len(lines[-2]) > 3:
        lines[-2], lines[-1] = lines[-2][:-1], lines[-2][-1] + lines[-1]
    return [line.strip() for line in lines]


def column_widths(table: Sequence[Sequence[str]],
                  per_line: float = TABLE_PER_LINE) -> list[float]:
    """Each column's share of the text block's width, the whole table exactly as wide as the
    text block: every column as wide as its widest cell if they all fit; else the headers
    wrap first (onto two lines), then the widest columns of Chinese text; numbers and Latin
    words never break."""
    if not table:
        return []
    columns = len(table[0])
    cells = [[str(row[n]) if n < len(row) else "" for row in table] for n in range(columns)]
    header = [_least_em(column[0], max(2, math.ceil(len(column[0]) / 2))) + CELL_PADDING
              for column in cells]
    body = [max([_cell_em(cell) for cell in column[1:]] or [0.0]) + CELL_PADDING
            for column in cells]
    natural = [max(_cell_em(column[0]) + CELL_PADDING, width)
               for column, width in zip(cells, body, strict=True)]
    wrapped_header = [max(pair) for pair in zip(header, body, strict=True)]
    least = [max([_least_em(cell, 4) for cell in column[1:]] or [0.0]) + CELL_PADDING
             for column in cells]
    least = [max(pair) for pair in zip(header, least, strict=True)]
    if sum(natural) <= per_line:
        widths = natural
    elif sum(wrapped_header) <= per_line:
        widths = _levelled(wrapped_header, natural, per_line)
    elif sum(least) < per_line:
        widths = _levelled(least, wrapped_header, per_line)
    else:
        widths = least
    total = sum(widths)
    return [width / total for width in widths]


def _levelled(lower: list[float], upper: list[float], total: float) -> list[float]:
    """Widths between ``lower`` and ``upper`` that add up to ``total``: the widest columns cut
    to one level, so that the narrow ones keep all they need."""
    low, high = 0.0, max(upper)
    for _ in range(50):
        level = (low + high) / 2
        fitted = sum(max(lo, min(up, level)) for lo, up in zip(lower, upper, strict=True))
        low, high = (level, high) if fitted < total else (low, level)
    return [max(lo, min(up, low)) for lo, up in zip(lower, upper, strict=True)]


def _cell_em(text: str) -> float:
    """A cell's width in characters, its digits and Latin letters counted generously (a
    Chinese font's are wider than half a character)."""
    return sum(1.0 if _em(char) == 1.0 else 0.6 for char in text)


def _least_em(cell: str, chinese: int) -> float:
    """The narrowest a cell may be: its longest run of Latin letters and digits (which does
    not wrap), or ``chinese`` characters of its Chinese text, or its whole width if less."""
    runs = re.findall(r"[\x21-\x7e]+", cell)
    latin = max((_cell_em(run) for run in runs), default=0.0)
    return max(latin, min(_cell_em(cell), float(chinese)))


NUMERALS = "[一二三四五六七八九十]+"
HEADINGS = ((1, re.compile(NUMERALS + "、")), (2, re.compile(f"（{NUMERALS}）")))


def outline(paragraph: str) -> dict[str, Any]:
    """A body paragraph with its heading level (GB/T 9704 7.3.3: 一、 in 黑体, （一） in 楷体):
    ``head`` is the heading (up to its first full stop), ``rest`` the text after it. A
    paragraph that is not a heading has level 0 and all its text in ``rest``."""
    for level, pattern in HEADINGS:
        if pattern.match(paragraph):
            end = paragraph.find("。") + 1 or len(paragraph)
            if end <= 30:
                return {"text": paragraph, "level": level, "head": paragraph[:end],
                        "rest": paragraph[end:]}
    return {"text": paragraph, "level": 0, "head": "", "rest": paragraph}


def fit_table(word: Any, table: Sequence[Sequence[str]]) -> None:
    """The Word table that shows ``table`` laid out fixed, as wide as the text block between
    the section's margins, its columns sized by :func:`column_widths`."""
    from docx.shared import Emu

    section = word.sections[0]
    width = section.page_width - section.left_margin - section.right_margin
    header = [str(cell) for cell in table[0]]
    for found in word.tables:
        if [cell.text for cell in found.rows[0].cells] != header:
            continue
        widths = [Emu(int(width * share)) for share in column_widths(table)]
        properties = found._tbl.tblPr
        _table_property(properties, "w:tblW", {"w:type": "dxa", "w:w": str(width // 635)})
        _table_property(properties, "w:tblInd", {"w:type": "dxa", "w:w": "0"})
        found.autofit = False  # w:tblLayout fixed: Word keeps the widths given
        for column, column_width in zip(found.columns, widths, strict=False):
            column.width = column_width
        for row in found.rows:
            for cell, column_width in zip(row.cells, widths, strict=False):
                cell.width = column_width


# w:tblPr's children in the order the schema (and Word) requires them.
TABLE_PROPERTIES = ("w:tblStyle", "w:tblpPr", "w:tblOverlap", "w:bidiVisual",
                    "w:tblStyleRowBandSize", "w:tblStyleColBandSize", "w:tblW", "w:jc",
                    "w:tblCellSpacing", "w:tblInd", "w:tblBorders", "w:shd", "w:tblLayout",
                    "w:tblCellMar", "w:tblLook", "w:tblCaption", "w:tblDescription")


def _table_property(properties: Any, name: str, attributes: Mapping[str, str]) -> None:
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    element = properties.find(qn(name))
    if element is None:
        element = OxmlElement(name)
        later = TABLE_PROPERTIES[TABLE_PROPERTIES.index(name) + 1:]
        properties.insert_element_before(element, *later)
    for key, value in attributes.items():
        element.set(qn(key), value)
