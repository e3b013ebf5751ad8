"""Charts drawn on the server as SVG: bars and lines, with their numbers in a table beside them
in the page. No script, no library to ship, prints as sharp as the text, and passes the CSP.

Every text in a chart is escaped here (the markup is handed to the template as safe).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

COLOURS = {"red": "#c62828", "yellow": "#f9a825", "green": "#2e7d32"}
BAR = "#b3261e"
LINES = ("#b3261e", "#1565c0")


def bars(rows: Sequence[tuple[str, float]], *, unit: str = "", colours: Sequence[str] = (),
         title: str) -> Markup:
    """Horizontal bars, one row each: label, bar, value."""
    height, label_width, width = 26, 140, 520
    peak = max((value for _, value in rows), default=0) or 1
    parts = [f'<svg class="chart" role="img" aria-label="{escape(title)}" '
             f'viewBox="0 0 {width} {height * max(len(rows), 1) + 8}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    for n, (label, value) in enumerate(rows):
        y = n * height + 4
        length = (width - label_width - 70) * value / peak
        fill = COLOURS.get(colours[n], BAR) if n < len(colours) else BAR
        parts.append(
            f'<text x="{label_width - 8}" y="{y + 17}" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{label_width}" y="{y + 3}" width="{length:.1f}" height="18" rx="2" '
            f'fill="{fill}"/>'
            f'<text x="{label_width + length + 6:.1f}" y="{y + 17}">{_number(value)}{unit}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def lines(labels: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]], *,
          title: str) -> Markup:
    """Rates (0..1) month by month, one line per series; a missing value breaks the line."""
    width, height, left, bottom, top = 560, 220, 44, 30, 26
    step = (width - left - 20) / max(len(labels) - 1, 1)
    plot = height - bottom - top

    def point(n: int, value: float) -> tuple[float, float]:
        return left + n * step, top + plot * (1 - value)

    parts = [f'<svg class="chart" role="img" aria-label="{escape(title)}" '
             f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
             f'<title>{escape(title)}</title>']
    for tick in (0, 0.5, 1):
        y = top + plot * (1 - tick)
        parts.append(f'<line class="grid" x1="{left}" y1="{y}" x2="{width - 10}" y2="{y}"/>'
                     f'<text x="{left - 6}" y="{y + 4}" text-anchor="end">{tick:.0%}</text>')
    for n, label in enumerate(labels):
        parts.append(f'<text x="{left + n * step:.1f}" y="{height - 8}" '
                     f'text-anchor="middle">{escape(label)}</text>')
    for index, (name, values) in enumerate(series):
        colour = LINES[index % len(LINES)]
        segment: list[str] = []
        for n, value in enumerate(values):
            if value is None:
                parts.append(_polyline(segment, colour))
                segment = []
                continue
            x, y = point(n, value)
            segment.append(f"{x:.1f},{y:.1f}")
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>')
        parts.append(_polyline(segment, colour))
        parts.append(f'<rect x="{left + 150 * index}" y="6" width="12" height="4" '
                     f'fill="{colour}"/><text x="{left + 150 * index + 16}" y="12">'
                     f'{escape(name)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _polyline(points: list[str], colour: str) -> str:
    if len(points) < 2:
        return ""
    return (f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
            f'points="{" ".join(points)}"/>')


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
