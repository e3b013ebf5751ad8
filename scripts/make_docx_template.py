"""Build notifiers/templates/document.docx, the Word template of every notice.

Offices restyle the letterhead in Word or WPS and save the file into their templates folder;
this script only makes the packaged default, laid out as GB/T 9704-2012 asks: A4, a text block
of 156mm x 225mm (37mm top, 35mm bottom, 28mm inside, 26mm outside, mirrored on even pages),
22 lines of 3号 仿宋, the title in 2号 小标宋 broken into lines by meaning, page numbers
"— 1 —" in 4号 宋体 on the outside of each page, and the 版记 (抄送, 印发机关 and 印发日期)
between its rules. Run it after changing the layout here:
``python scripts/make_docx_template.py``.
"""

from __future__ import annotations

from pathlib import Path

from docx import Document
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING, WD_TAB_ALIGNMENT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt, RGBColor
from lxml import etree

OUT = Path(__file__).resolve().parent.parent / "notifiers" / "templates" / "document.docx"
BODY_FONT = "仿宋_GB2312"
TITLE_FONT = "方正小标宋简体"
HEADING_FONT = "黑体"  # 一级标题 (一、)
SUBHEADING_FONT = "楷体_GB2312"  # 二级标题 (（一）) and the 签发人's name
NUMBER_FONT = "宋体"  # page numbers
# What Word or WPS looks for when a font is missing (w:altName), all GB2312 (charset 86).
FONTS = {BODY_FONT: ("仿宋", "modern"), TITLE_FONT: ("FZXiaoBiaoSong-B05S", "roman"),
         HEADING_FONT: ("SimHei", "modern"), SUBHEADING_FONT: ("楷体", "modern"),
         NUMBER_FONT: ("SimSun", "roman")}
RED = RGBColor(0xC0, 0x00, 0x00)
TEXT_WIDTH = Mm(156)
LINE = Pt(28.9)  # 225mm / 22 lines
CHAR = Pt(16)  # one character of 3号 text
SMALL_CHAR = Pt(14)  # one character of 4号 text (版记, page numbers)
HEAVY, THIN = "8", "6"  # the 版记's rules: 1pt and 0.75pt (0.35mm and 0.25mm)
# What follows w:pBdr in a paragraph's properties (the schema's order, which Word enforces).
AFTER_BORDERS = ("w:shd", "w:tabs", "w:suppressAutoHyphens", "w:kinsoku", "w:wordWrap",
                 "w:overflowPunct", "w:topLinePunct", "w:autoSpaceDE", "w:autoSpaceDN",
                 "w:bidi", "w:adjustRightInd", "w:snapToGrid", "w:spacing", "w:ind",
                 "w:contextualSpacing", "w:mirrorIndents", "w:suppressOverlap", "w:jc",
                 "w:textDirection", "w:textAlignment", "w:textboxTightWrap", "w:outlineLvl",
                 "w:divId", "w:cnfStyle", "w:rPr", "w:sectPr", "w:pPrChange")


def east_asian(properties, font: str) -> None:
    """Name ``font`` for every script of a run (rFonts), Chinese first (w:hint)."""
    fonts = properties.get_or_add_rFonts()
    for script in ("ascii", "hAnsi", "eastAsia", "cs"):
        fonts.set(qn(f"w:{script}"), font)
    fonts.set(qn("w:hint"), "eastAsia")


def run(paragraph, text: str, font: str = BODY_FONT, size: float = 16, color=None):
    piece = paragraph.add_run(text)
    piece.font.size = Pt(size)
    east_asian(piece._element.get_or_add_rPr(), font)
    if color is not None:
        piece.font.color.rgb = color
    return piece


def line(container, text: str, align=None, spacing=LINE, **style):
    paragraph = container.add_paragraph()
    paragraph.paragraph_format.line_spacing_rule = WD_LINE_SPACING.EXACTLY
    paragraph.paragraph_format.line_spacing = spacing
    paragraph.paragraph_format.space_before = Pt(0)
    paragraph.paragraph_format.space_after = Pt(0)
    if align is not None:
        paragraph.alignment = align
    if text:
        run(paragraph, text, **style)
    return paragraph


def borders(paragraph, color: str = "000000", space: str = "1", **sides: str) -> None:
    """Rules over and under a paragraph, as wide as the text block: ``top="8"`` in eighths
    of a point, ``space`` points from the text."""
    element = OxmlElement("w:pBdr")
    for side in ("top", "bottom"):
        if side in sides:
            edge = OxmlElement(f"w:{side}")
            for key, value in (("val", "single"), ("sz", sides[side]), ("space", space),
                               ("color", color)):
                edge.set(qn(f"w:{key}"), value)
            element.append(edge)
    paragraph._p.get_or_add_pPr().insert_element_before(element, *AFTER_BORDERS)


def number_line(document) -> None:
    """发文字号 centred, the red rule 4mm under it; a document sent up has the number one
    character in from the left and "签发人：name" one character in from the right (GB/T 9704
    7.2.4, 7.2.5)."""
    line(document, "{%p if signer and doc_number %}")
    upward = line(document, "　{{ doc_number }}")
    upward.paragraph_format.tab_stops.add_tab_stop(TEXT_WIDTH - CHAR, WD_TAB_ALIGNMENT.RIGHT)
    run(upward, "").add_tab()
    run(upward, "签发人：")
    run(upward, "{{ signer }}", font=SUBHEADING_FONT)
    borders(upward, color="C00000", space="11", bottom="12")
    line(document, "{%p else %}")
    centred = line(document, "{{ doc_number or '' }}", WD_ALIGN_PARAGRAPH.CENTER)
    borders(centred, color="C00000", space="11", bottom="12")
    line(document, "{%p endif %}")


def body_paragraphs(document, which: str) -> None:
    """Body paragraphs indented two characters; a heading (一、 or （一）) in its font."""
    line(document, f"{{%p for block in {which} %}}")
    for level, font in ((1, HEADING_FONT), (2, SUBHEADING_FONT)):
        line(document, f"{{%p {'if' if level == 1 else 'elif'} block.level == {level} %}}")
        heading = line(document, "{{ block.head }}", WD_ALIGN_PARAGRAPH.JUSTIFY, font=font)
        run(heading, "{{ block.rest }}")
        heading.paragraph_format.first_line_indent = 2 * CHAR
    line(document, "{%p else %}")
    body = line(document, "{{ block.text }}", WD_ALIGN_PARAGRAPH.JUSTIFY)
    body.paragraph_format.first_line_indent = 2 * CHAR
    line(document, "{%p endif %}")
    line(document, "{%p endfor %}")


def ranking_table(document) -> None:
    """The circular's table, columns and rows as given (docxtpl's tr/tc loops); the renderer
    sizes its columns to the text block. The header row repeats on every page."""
    line(document, "{%p if table %}")
    table = document.add_table(rows=4, cols=3)
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    cells = (("{%tc for cell in table[0] %}", "{{ cell }}", "{%tc endfor %}"),
             ("{%tr for row in table[1:] %}", "", ""),
             ("{%tc for cell in row %}", "{{ cell }}", "{%tc endfor %}"),
             ("{%tr endfor %}", "", ""))
    for row, texts in zip(table.rows, cells, strict=True):
        for cell, text in zip(row.cells, texts, strict=True):
            paragraph = cell.paragraphs[0]
            paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
            run(paragraph, text, size=12)
    for row, flag in ((table.rows[0], "w:tblHeader"), (table.rows[2], "w:cantSplit")):
        row._tr.get_or_add_trPr().append(OxmlElement(flag))
    line(document, "{%p endif %}")


def imprint(document) -> None:
    """版记: 抄送 between a heavy and a thin rule, then 印发机关 (one character in) and
    印发日期 (one character from the right) over a heavy rule (GB/T 9704 7.4)."""
    def printed():
        paragraph = line(document, "　{{ issuer }}", size=14, spacing=Pt(22))
        paragraph.paragraph_format.tab_stops.add_tab_stop(TEXT_WIDTH - SMALL_CHAR,
                                                          WD_TAB_ALIGNMENT.RIGHT)
        run(paragraph, "", size=14).add_tab()
        run(paragraph, "{{ date }}印发", size=14)
        return paragraph

    line(document, "")
    line(document, "{%p if cc %}")
    copies = line(document, "　抄送：{{ cc }}。", size=14, spacing=Pt(22))
    borders(copies, top=HEAVY, bottom=THIN)
    borders(printed(), bottom=HEAVY)
    line(document, "{%p else %}")
    borders(printed(), top=HEAVY, bottom=HEAVY)
    line(document, "{%p endif %}")


def page_number(footer, align, indent: str) -> None:
    """"— 1 —": the PAGE field between dashes, one character in from the outside edge."""
    paragraph = footer.paragraphs[0]
    paragraph.alignment = align
    paragraph.paragraph_format.line_spacing_rule = WD_LINE_SPACING.EXACTLY
    paragraph.paragraph_format.line_spacing = Pt(16)
    setattr(paragraph.paragraph_format, indent, SMALL_CHAR)
    run(paragraph, "— ", font=NUMBER_FONT, size=14)
    for kind, text in (("begin", None), (None, " PAGE "), ("separate", None), (None, "1"),
                       ("end", None)):
        piece = run(paragraph, "", font=NUMBER_FONT, size=14)
        if kind:
            mark = OxmlElement("w:fldChar")
            mark.set(qn("w:fldCharType"), kind)
            piece._r.append(mark)
        elif text.strip() == "PAGE":
            code = OxmlElement("w:instrText")
            code.set(qn("xml:space"), "preserve")
            code.text = text
            piece._r.append(code)
        else:
            piece.text = text
    run(paragraph, " —", font=NUMBER_FONT, size=14)


def page_setup(document) -> None:
    """A4 with the GB/T 9704 margins, mirrored (订口 28mm inside), odd and even footers."""
    section = document.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(37), Mm(35)
    section.left_margin, section.right_margin = Mm(28), Mm(26)
    section.header_distance = Mm(15)
    section.footer_distance = Mm(22)  # the dashes' top 7mm below the text block
    settings = document.settings
    settings.odd_and_even_pages_header_footer = True
    settings.element.find(qn("w:zoom")).addnext(OxmlElement("w:mirrorMargins"))
    for found in settings.element.iter(qn("w:compatSetting")):
        if found.get(qn("w:name")) == "compatibilityMode":
            found.set(qn("w:val"), "15")  # tables start at the margin, as they look in WPS
    language = settings.element.find(qn("w:themeFontLang"))
    if language is not None:
        language.set(qn("w:eastAsia"), "zh-CN")
    section.footer.is_linked_to_previous = False
    section.even_page_footer.is_linked_to_previous = False
    page_number(section.footer, WD_ALIGN_PARAGRAPH.RIGHT, "right_indent")
    page_number(section.even_page_footer, WD_ALIGN_PARAGRAPH.LEFT, "left_indent")


def default_fonts(document) -> None:
    """仿宋 3号 as the document's own font, Chinese its language; the fonts named with what
    to take in their place."""
    normal = document.styles["Normal"]
    normal.font.size = Pt(16)
    properties = normal.element.get_or_add_rPr()
    east_asian(properties, BODY_FONT)
    # Latin text (digits) as English: a number is never broken at the end of a line
    language = OxmlElement("w:lang", {qn("w:val"): "en-US", qn("w:eastAsia"): "zh-CN"})
    properties.insert_element_before(language, "w:eastAsianLayout", "w:specVanish", "w:oMath")
    table = next(part for part in document.part.package.iter_parts()
                 if str(part.partname) == "/word/fontTable.xml")
    root = etree.fromstring(table.blob)
    for name, (alternative, family) in FONTS.items():
        font = etree.SubElement(root, qn("w:font"), {qn("w:name"): name})
        for tag, value in (("altName", alternative), ("charset", "86"), ("family", family),
                           ("pitch", "variable")):
            etree.SubElement(font, qn(f"w:{tag}"), {qn("w:val"): value})
    table._blob = etree.tostring(root, xml_declaration=True, encoding="UTF-8",
                                 standalone=True)


def main() -> None:
    document = Document()
    page_setup(document)
    default_fonts(document)
    center, right = WD_ALIGN_PARAGRAPH.CENTER, WD_ALIGN_PARAGRAPH.RIGHT
    line(document, "{{ issuer }}", center, spacing=Pt(40), font=TITLE_FONT, size=26, color=RED)
    line(document, "")
    number_line(document)
    line(document, "")
    line(document, '{{ title_lines | join("\\n") }}', center, spacing=Pt(32), font=TITLE_FONT,
         size=22)
    line(document, "")
    line(document, "{{ recipient }}：")
    body_paragraphs(document, "blocks[:table_after]")
    ranking_table(document)
    body_paragraphs(document, "blocks[table_after:]")
    space = line(document, "")
    signature = line(document, "{{ signature }}", right)
    date = line(document, "{{ date }}", right)
    for paragraph in (signature, date):
        paragraph.paragraph_format.right_indent = 4 * CHAR  # 成文日期右空四字
    for paragraph in (space, signature):  # the 落款 and its date on one page
        paragraph.paragraph_format.keep_with_next = True
    imprint(document)
    document.save(OUT)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
