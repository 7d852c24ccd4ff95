"""Small SVG charts drawn on the server: no script and no style attribute, so the
Content-Security-Policy stays strict. Text goes through Jinja's escaping (the
templates insert the returned markup with |safe, so every label is escaped here)."""
from __future__ import annotations

from html import escape
from typing import Sequence


def bar_chart(bars: Sequence[tuple[str, float | None]], *, percent: bool = False,
              title: str = "", width: int = 720, height: int = 180) -> str:
    """Vertical bars; a None value is a gap (no data that day)."""
    n = max(1, len(bars))
    top = max([v for _, v in bars if v is not None] + [1.0 if percent else 0.0]) or 1.0
    left, plot_h = 40, height - 50
    step = (width - left - 10) / n
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
             f'<title>{escape(title)}</title>']
    for frac in (0, 0.5, 1.0):
        y = 20 + plot_h * (1 - frac)
        label = f"{frac * top:.0%}" if percent else f"{frac * top:g}"
        parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" '
                     'stroke="#ddd"/>')
        parts.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" '
                     f'font-size="10" fill="#555">{label}</text>')
    every = max(1, n // 10)
    for i, (label, value) in enumerate(bars):
        x = left + i * step
        if value is not None:
            h = plot_h * (value / top)
            parts.append(f'<rect x="{x + step * 0.15:.1f}" y="{20 + plot_h - h:.1f}" '
                         f'width="{step * 0.7:.1f}" height="{h:.1f}" fill="#2e7d32">'
                         f'<title>{escape(label)}: '
                         f'{f"{value:.0%}" if percent else f"{value:g}"}</title></rect>')
        if i % every == 0:
            parts.append(f'<text x="{x + step / 2:.1f}" y="{height - 10}" text-anchor="middle" '
                         f'font-size="10" fill="#555">{escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)
