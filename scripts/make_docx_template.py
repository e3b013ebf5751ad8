"""Build notifiers/templates/document.docx, the Word template of every notice.

Offices restyle the letterhead in Word or WPS and save the file into their templates folder;
this script only makes the packaged default (GB/T 9704 page and fonts). Run it after changing
the layout here: ``python scripts/make_docx_template.py``.
"""

from __future__ import annotations

from pathlib import Path

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt, RGBColor

OUT = Path(__file__).resolve().parent.parent / "notifiers" / "templates" / "document.docx"
BODY_FONT = "仿宋_GB2312"
TITLE_FONT = "方正小标宋简体"
RED = RGBColor(0xC0, 0x00, 0x00)


def run(paragraph, text: str, font: str = BODY_FONT, size: float = 16, color=None):
    piece = paragraph.add_run(text)
    piece.font.size = Pt(size)
    piece.font.name = font
    piece._element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), font)
    if color is not None:
        piece.font.color.rgb = color
    return piece


def line(document, text: str, align=None, **style):
    paragraph = document.add_paragraph()
    paragraph.paragraph_format.line_spacing = Pt(28)
    paragraph.paragraph_format.space_after = Pt(0)
    if align is not None:
        paragraph.alignment = align
    run(paragraph, text, **style)
    return paragraph


def red_rule(paragraph) -> None:
    """The red line under the document number (版头中的分隔线)."""
    borders = OxmlElement("w:pBdr")
    bottom = OxmlElement("w:bottom")
    for key, value in (("val", "single"), ("sz", "12"), ("space", "4"), ("color", "C00000")):
        bottom.set(qn(f"w:{key}"), value)
    borders.append(bottom)
    paragraph._p.get_or_add_pPr().append(borders)


def body_paragraphs(document, which: str) -> None:
    line(document, f"{{%p for paragraph in {which} %}}")
    body = line(document, "{{ paragraph }}")
    body.paragraph_format.first_line_indent = Pt(32)
    body.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
    line(document, "{%p endfor %}")


def ranking_table(document) -> None:
    """The circular's table, columns and rows as given (docxtpl's tr/tc loops)."""
    line(document, "{%p if table %}")
    table = document.add_table(rows=4, cols=3)
    table.style = "Table Grid"
    cells = (("{%tc for cell in table[0] %}", "{{ cell }}", "{%tc endfor %}"),
             ("{%tr for row in table[1:] %}", "", ""),
             ("{%tc for cell in row %}", "{{ cell }}", "{%tc endfor %}"),
             ("{%tr endfor %}", "", ""))
    for row, texts in zip(table.rows, cells, strict=True):
        for cell, text in zip(row.cells, texts, strict=True):
            paragraph = cell.paragraphs[0]
            paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
            run(paragraph, text, size=12)
    line(document, "{%p endif %}")


def main() -> None:
    document = Document()
    section = document.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(37), Mm(35)
    section.left_margin, section.right_margin = Mm(28), Mm(26)
    center, right = WD_ALIGN_PARAGRAPH.CENTER, WD_ALIGN_PARAGRAPH.RIGHT
    line(document, "{{ issuer }}", center, font=TITLE_FONT, size=26, color=RED)
    number = line(document, "{{ doc_number or '' }}", center)
    red_rule(number)
    line(document, "")
    line(document, "{{ title }}", center, font=TITLE_FONT, size=22)
    line(document, "")
    line(document, "{{ recipient }}：")
    body_paragraphs(document, "paragraphs[:table_after]")
    ranking_table(document)
    body_paragraphs(document, "paragraphs[table_after:]")
    line(document, "")
    line(document, "{{ signature }}", right)
    line(document, "{{ date }}", right)
    line(document, "{%p if cc %}")
    line(document, "")
    line(document, "抄送：{{ cc }}。", size=14)
    line(document, "{%p endif %}")
    document.save(OUT)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
