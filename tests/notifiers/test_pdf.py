"""PDF of a notice (the circular), with WeasyPrint and the machine's Chinese fonts: the pages
are there and their text extracts (the dashboard's PDF: tests/web/test_dashboard_web.py)."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from duban.notifiers.documents import render_stored
from tests.engine.test_ledger import NOVEMBER, november  # noqa: F401


def pages_of(data: bytes) -> list[str]:
    """Each page's text, without the line breaks and spaces of the layout."""
    return ["".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(data)).pages]


def page_number_sides(data: bytes) -> list[str]:
    """Where each page's "— n —" stands: "right" or "left" of the page's middle."""
    sides = []
    for page in PdfReader(io.BytesIO(data)).pages:
        found: list[float] = []

        def seen(text, cm, tm, font, size, found=found):
            if text.strip().startswith("—"):
                found.append(tm[4] * cm[0] + cm[4])

        page.extract_text(visitor_text=seen)
        middle = float(page.mediabox.width) / 2
        sides.append("right" if found and found[-1] > middle else "left" if found else "")
    return sides


def text_of(data: bytes) -> tuple[int, str]:
    pages = pages_of(data)
    return len(pages), "".join(pages)


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
def test_the_circular_prints_as_a_pdf_whose_text_extracts(office, november):  # noqa: F811
    result = office.service.circular("zhao", NOVEMBER)
    data = render_stored(office.service, "zhao", result["notice"], "pdf")
    assert data.startswith(b"%PDF-")
    first, last = pages_of(data)  # A4, GB/T 9704 margins: the 落款 and 抄送 turn the page
    for words in ("督通〔2026〕1号", "关于2026年11月督查督办工作情况的通报", "安全稳定科",
                  "基础教育科", "市第一中学", "按期办结率50.0%", "予以通报表扬"):
        assert words in first, words
    assert "2026年12月1日" in last and "抄送：市教育局陈局长" in last
    assert "2026年12月1日印发" in last  # 印发机关 and 印发日期 under the 抄送
    # the page numbers of the notice's @page rules, "— 1 —" (odd) and "— 2 —" (even)
    assert first.endswith("—1—") and last.endswith("—2—")
    assert page_number_sides(data) == ["right", "left"]  # GB/T 9704: 单页码居右, 双页码居左
