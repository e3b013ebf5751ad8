"""PDF from the HTML duban already renders (notices, the circular, the dashboard), with
WeasyPrint and the Chinese fonts of the machine.

A server needs Pango (Debian: ``libpango-1.0-0 libpangoft2-1.0-0``) and CJK fonts (Debian:
``fonts-noto-cjk``). The notices ask for the official fonts first (方正小标宋简体, 仿宋_GB2312,
黑体, 楷体_GB2312; docs/NOTICES.md says which and how to install them) and fall back to Noto
CJK; their page numbers come from the notice's own ``@page`` rules. Missing pieces are one
line, not a traceback.
"""

from __future__ import annotations

from duban.engine.errors import SetupError

# The body font of the official documents (仿宋) and its free fallback, for pages that name
# no Chinese font of their own (the dashboard); a notice's more specific rules come first.
BODY_FONTS = ('"仿宋_GB2312", "仿宋", "FangSong", "FangSong_GB2312", "STFangsong", "华文仿宋", '
              '"Noto Serif CJK SC", "Source Han Serif SC", "Noto Sans CJK SC", serif')
FALLBACK_CSS = f"""
body, p, td, th, h1, h2, h3, .issuer {{ font-family: {BODY_FONTS}; }}
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
