"""Charts of the compliance report (storage/compliance_report.py), as PNG bytes.

Drawn with matplotlib's Agg canvas and no pyplot, like the timeline picture
(verifier/timeline.py), whose CJK font lookup and pinyin fallback they share: product
names and reasons are Chinese, and a machine without a CJK font still gets a readable
chart.
"""
from __future__ import annotations

import io
from typing import Any, Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from verifier.timeline import STATUS_COLOUR, _text, cjk_font

MACHINE = "#1f77b4"
FINAL = "#2e7d32"
COUNT = "#d9d9d9"
AGREEMENT = "#9e9e9e"
PRECISION = "#1f77b4"
RECALL = "#ff7f0e"


def _figure(width: float, height: float) -> tuple[Figure, list[str]]:
    """A figure and the font families for text that may be Chinese (DejaVu first for
    Latin text, then a CJK family when one is installed)."""
    font = cjk_font()
    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    return fig, ["DejaVu Sans", font] if font else ["DejaVu Sans"]


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buf)
    return buf.getvalue()


def _empty(ax, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes,
            color="#555555")
    ax.set_xticks([])
    ax.set_yticks([])


def pass_rate_over_time(by_period: Sequence[dict[str, Any]], granularity: str) -> bytes:
    """Machine and final pass rate per period (lines), recordings per period (bars)."""
    fig, font = _figure(9, 3.6)
    ax = fig.add_subplot()
    keys = [p["key"] for p in by_period]
    x = list(range(len(keys)))
    counts = ax.twinx()
    counts.bar(x, [p["recordings"] for p in by_period], color=COUNT, width=0.8, zorder=0,
               label="recordings")
    counts.set_ylabel("recordings")
    counts.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_zorder(counts.get_zorder() + 1)
    ax.patch.set_visible(False)
    # Hollow squares over dots: where review changed nothing both stay visible.
    for field, colour, label, style in (
            ("machine_pass_rate", MACHINE, "machine pass rate", {"marker": "o"}),
            ("final_pass_rate", FINAL, "after review",
             {"marker": "s", "markersize": 10, "fillstyle": "none", "linestyle": "--"})):
        pts = [(i, p[field]) for i, p in zip(x, by_period) if p[field] is not None]
        if pts:
            ax.plot([i for i, _ in pts], [v for _, v in pts], color=colour, label=label,
                    **style)
    ax.set_ylim(0, 1.05)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel("pass rate")
    step = max(1, -(-len(keys) // 12))  # at most 12 labels
    ax.set_xticks(x[::step], keys[::step], rotation=45 if len(keys) > 6 else 0,
                  ha="right" if len(keys) > 6 else "center", fontsize=8)
    ax.set_xlim(-0.6, len(keys) - 0.4)
    ax.set_title(_text("双录合格率 pass rate by " + granularity, len(font) > 1), fontfamily=font)
    if ax.get_lines():
        ax.legend(loc="lower left", fontsize=8)
    else:
        _empty(ax, "no recordings in this period")
    return _png(fig)


def failures_by_reason(failures: Sequence[dict[str, Any]]) -> bytes:
    """Recordings each check failed (red) or sent to review (orange), most first."""
    rows = list(failures)[:15]
    fig, font = _figure(9, max(2.4, 0.45 * len(rows) + 1.2))
    ax = fig.add_subplot()
    if not rows:
        _empty(ax, "no failed or review checks in this period")
        ax.set_title("failures by check")
        return _png(fig)
    rows = rows[::-1]  # most at the top
    y = list(range(len(rows)))
    fails = [r["fail"] for r in rows]
    reviews = [r["review"] for r in rows]
    ax.barh(y, fails, color=STATUS_COLOUR["fail"], label="fail")
    ax.barh(y, reviews, left=fails, color=STATUS_COLOUR["review"], label="review")
    for i, r in enumerate(rows):
        ax.text(r["fail"] + r["review"], i, f" {r['fail'] + r['review']}", va="center",
                fontsize=8)
    ax.set_yticks(y, [r["check_id"] for r in rows], fontsize=9)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("recordings")
    ax.set_xlim(0, max(f + v for f, v in zip(fails, reviews)) * 1.15 + 0.5)
    ax.set_title("failures by check (reason)")
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig)


def agreement_by_check(checks: Sequence[dict[str, Any]], kappa: float | None,
                       reviewed: int) -> bytes:
    """Agreement, precision and recall of each check against the reviewers, with how
    many reviewed recordings judged it; Cohen's kappa of the verdict in the title.
    (Agreement is there because a check that never flagged has no precision.)"""
    rows = [c for c in checks if c["judged"]]
    fig, font = _figure(9, max(2.4, 0.5 * len(rows) + 1.3))
    ax = fig.add_subplot()
    k = "n/a" if kappa is None else f"{kappa:.2f}"
    ax.set_title(f"agreement with reviewers by check ({reviewed} reviewed; "
                 f"verdict Cohen's kappa {k})")
    if not rows:
        _empty(ax, "no reviewed recordings in this period")
        return _png(fig)
    rows = rows[::-1]
    y = list(range(len(rows)))
    h = 0.27
    for offset, field, colour in ((h, "agreement", AGREEMENT), (0, "precision", PRECISION),
                                  (-h, "recall", RECALL)):
        values = [r[field] for r in rows]
        ax.barh([i + offset for i in y], [v or 0 for v in values], height=h, color=colour,
                label=field)
        for i, v in zip(y, values):
            ax.text((v or 0) + 0.01, i + offset, "n/a" if v is None else f"{v:.0%}",
                    va="center", fontsize=7)
    ax.set_yticks(y, [f"{r['check_id']} (n={r['judged']})" for r in rows], fontsize=9)
    ax.set_xlim(0, 1.12)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=3,
               fontsize=8)
    return _png(fig)
