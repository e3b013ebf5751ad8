"""PDF from the HTML duban already renders (notices, the circular, the dashboard), with
WeasyPrint and the Chinese fonts of the machine.

A server needs Pango (Debian: ``libpango-1.0-0 libpangoft2-1.0-0``) and CJK fonts (Debian:
``fonts-noto-cjk``; an office may install 方正仿宋/仿宋_GB2312, which the notices ask for first).
Missing pieces are one line, not a traceback.
"""

from __future__ import annotations

from duban.engine.errors import SetupError

# Fallbacks for the official fonts the documents name (仿宋, 宋体, 黑体) when only the free
# CJK fonts are installed.
FALLBACK_CSS = """
body, p, td, th, h1, h2, h3, .issuer { font-family: "FangSong", "仿宋", "仿宋_GB2312",
  "STFangsong", "Noto Serif CJK SC", "Noto Sans CJK SC", serif; }
"""


def html_to_pdf(html: str, *, base_url: str | None = None, extra_css: str = "") -> bytes:
    """The document as PDF bytes (A4 unless its own ``@page`` says otherwise)."""
    try:
        from weasyprint import CSS, HTML
    except (ImportError, OSError) as err:  # OSError: Pango missing
        raise SetupError(f"无法生成 PDF: {err} (需要 weasyprint 与 Pango, 见 docs/NOTICES.md)"
                         ) from None
    sheets = [CSS(string=FALLBACK_CSS + extra_css)]
    return HTML(string=html, base_url=base_url).write_pdf(stylesheets=sheets)
