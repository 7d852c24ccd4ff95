"""The timeline picture of one verification: what was seen, heard and found over time.

Drawn from the report dict alone (CONTRACT.md section 4, plus its `timeline` block), so
a stored report can be drawn again later without the media. Lanes, top to bottom:

- findings: one lane per check that did not pass, red (fail) or orange (review) spans
  where the problem is, labelled with the check id; the spans are also shaded faintly
  across every lane so what was seen and heard at that moment lines up;
- faces: staff, customer and third person identifiable (``timeline.faces``);
- speech: transcript segments per speaker (text inside when a CJK font is installed);
- phrases: each required phrase where it was heard (found, near miss) and the ones not
  heard; each confirmation from the question to the answer, coloured by its result;
- audio level in dBFS per channel (``timeline.audio_level_dbfs``).

A report without a timeline or transcript (an error report) is drawn with what it has
and its error message.
"""
from __future__ import annotations

import logging
import re
import shutil
import subprocess
import textwrap
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Any

# Any matplotlib figure made here is rendered by Agg; pyplot (and its global backend and
# figure registry) is never used, so this works without a display and in threads.
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import FixedLocator, FuncFormatter
from matplotlib.transforms import Bbox, TransformedBbox

# Families that carry Simplified Chinese glyphs, best first.
CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Noto Sans CJK JP",
                "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Droid Sans Fallback",
                "AR PL UMing CN", "AR PL UKai CN", "SimHei", "Microsoft YaHei", "PingFang SC")
# The Debian package that gives Chinese labels. Without any CJK font the picture still
# draws: phrase ids are ASCII, and Chinese in messages is written in pinyin.
CJK_DEBIAN_PACKAGE = "fonts-noto-cjk"

STATUS_COLOUR = {"pass": "#2e7d32", "fail": "#c62828", "review": "#ef6c00",
                 "error": "#6a1b9a", "skipped": "#757575"}
ROLE_COLOUR = {"staff": "#1f77b4", "customer": "#2ca02c", "extra": "#9467bd",
               "unknown": "#7f7f7f"}
SPEECH_COLOUR = {"staff": "#9ecae1", "customer": "#a1d99b", "unknown": "#cfcfcf"}
LANE_BG = "#f1f1f1"
SPAN_STATUS = ("fail", "review", "error")
MAX_LABEL_ROWS = 8

_CJK = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef"
                  r"\U00020000-\U0002fa1f]+")


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """A font family with Chinese glyphs known to matplotlib, or None. Fonts installed
    after matplotlib built its font cache are found through fontconfig and added."""
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    for family in CJK_FAMILIES:
        if family in names:
            return family
    if not shutil.which("fc-list"):
        return None
    try:
        out = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True,
                             text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    files = sorted({line.split(":")[0].strip() for line in out.splitlines() if line.strip()})
    for path in files:
        try:
            font_manager.fontManager.addfont(path)
        except Exception:  # an unreadable font file is not our problem
            continue
    names = {f.name for f in font_manager.fontManager.ttflist}
    return next((family for family in CJK_FAMILIES if family in names), None)


def _text(s: Any, has_cjk: bool) -> str:
    """Label text: as is with a CJK font; otherwise Chinese is written in pinyin with
    tone marks (DejaVu has no Chinese glyphs, and boxes help nobody)."""
    s = "" if s is None else str(s)
    return s if has_cjk else _CJK.sub(_romanise, unicodedata.normalize("NFKC", s))


def _romanise(m: re.Match) -> str:
    try:
        from pypinyin import Style, lazy_pinyin
    except ImportError:  # pragma: no cover - pypinyin is a dependency of textnorm
        return "…"
    return " ".join(lazy_pinyin(m.group(0), style=Style.TONE, errors=lambda _: "…"))


def _clip(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def _fmt_clock(seconds: float, _pos=None) -> str:
    seconds = max(0, int(round(seconds)))
    h, m, s = seconds // 3600, seconds % 3600 // 60, seconds % 60
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def _tick_step(span: float) -> float:
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200):
        if span / step <= 16:
            return float(step)
    return 14400.0


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _span_of(entry: dict) -> tuple[float, float] | None:
    """(start, end) of an evidence entry or item: start_s/end_s, or a window."""
    window = entry.get("window")
    if isinstance(window, (list, tuple)) and len(window) == 2:
        a, b = _num(window[0]), _num(window[1])
    else:
        a, b = _num(entry.get("start_s")), _num(entry.get("end_s"))
    if a is None:
        return None
    return (a, b if b is not None and b >= a else a)


def problem_spans(check: dict) -> list[tuple[float, float]]:
    return [(a, b) for a, b, _ in labelled_problem_spans(check)]


def _label_of(entry: dict) -> str:
    for key in ("moment", "id", "term", "role"):
        if entry.get(key):
            return str(entry[key])
    return ""


def _problem_items(check: dict) -> list[dict] | None:
    """The items a check with per-item results failed on, or None (no such items)."""
    items = check.get("items")
    if not items or not all(isinstance(i, dict) for i in items):
        return None
    if any("status" in i for i in items):
        return [i for i in items if i.get("status") in SPAN_STATUS]
    if any("found" in i for i in items):
        return [i for i in items if i.get("found") is False]
    if any("violation" in i for i in items):
        return [i for i in items if i.get("violation")]
    return None


def untimed_problems(check: dict) -> list[str]:
    """Problem items without a time (a phrase never heard)."""
    return [_label_of(i) for i in _problem_items(check) or [] if _span_of(i) is None]


def labelled_problem_spans(check: dict) -> list[tuple[float, float, str]]:
    """Where a check that did not pass found its problems. Checks with per-item results
    (speech.required, face.key_moments, ...) point at their failing items: a phrase
    check's evidence lists what *was* heard, which is not the problem. Other checks'
    evidence intervals are the problems (absences, forbidden promises, gaps)."""
    bad = _problem_items(check)
    if bad is not None:
        return [(*s, _label_of(i)) for i in bad if (s := _span_of(i))]
    evidence = check.get("evidence")
    if not isinstance(evidence, list):
        return []
    return [(*s, _label_of(e)) for e in evidence if isinstance(e, dict) and (s := _span_of(e))]


def time_extent(report: dict) -> float | None:
    """The time axis: the recording's duration, else the last time anything mentions,
    else None (nothing is known about time)."""
    dur = _num(report.get("duration_s"))
    if dur and dur > 0:
        return dur
    ends = [0.0]
    tl = report.get("timeline") or {}
    for runs in (tl.get("faces") or {}).values():
        ends += [float(b) for _, b in runs]
    for levels in (tl.get("audio_level_dbfs") or {}).values():
        ends += [float(t) + 1.0 for t, _ in levels]
    ends += [float(s.get("end_s") or 0) for s in report.get("transcript") or []]
    for c in report.get("checks") or []:
        ends += [b for _, b in problem_spans(c)]
    return max(ends) if max(ends) > 0 else None


def phrase_marks(report: dict) -> tuple[list[dict], list[str]]:
    """Required phrases and confirmation questions: timed marks, and ids not heard."""
    checks = {c.get("id"): c for c in report.get("checks") or []}
    marks, missing = [], []

    def add(item: dict, kind: str) -> None:
        pid = str(item.get("id", "?"))
        # Where the phrase itself was said, when the item says (whisper segments often
        # hold several sentences), else the matched segments.
        start = _num(item.get("spoken_start_s"))
        end = _num(item.get("spoken_end_s"))
        if start is None or end is None:
            start, end = _num(item.get("start_s")), _num(item.get("end_s"))
        if item.get("found"):
            state = "found"
        elif item.get("near_miss"):
            state = "near"
        else:
            state = "missing"
        if start is None or state == "missing":
            missing.append(pid)
            return
        marks.append({"id": pid, "kind": kind, "start": start,
                      "end": end if end is not None else start, "state": state})

    for item in (checks.get("speech.required") or {}).get("items") or []:
        add(item, "phrase")
    conf_items = [i for i in (checks.get("speech.confirmation") or {}).get("items") or []
                  if isinstance(i, dict)]
    if conf_items:
        for item in conf_items:
            start = _num(item.get("question_start_s"))
            start = start if start is not None else _num(item.get("start_s"))
            if start is None:
                missing.append(str(item.get("id", "?")))
                continue
            end = _num(item.get("end_s"))  # the answer's end, or the window's
            state = item.get("status")
            marks.append({"id": str(item.get("id", "?")), "kind": "confirmation",
                          "start": start, "end": end if end and end > start else start,
                          "state": "found" if state == "pass" else
                                   "near" if state == "review" else "missing"})
    else:
        # Without timed speech.confirmation items, face.key_moments knows when each
        # confirmation question was heard (its window starts at the question).
        for item in (checks.get("face.key_moments") or {}).get("items") or []:
            if item.get("kind") == "confirmation" and item.get("window"):
                start = _num(item["window"][0])
                if start is not None:
                    marks.append({"id": str(item.get("id", "?")), "kind": "confirmation",
                                  "start": start, "end": start, "state": "found"})
    return marks, missing


def _stagger(xs: list[float], widths: list[float], levels: int) -> list[int]:
    """Greedy label rows so neighbouring labels do not overlap."""
    last_end = [-1e18] * levels
    out = []
    for x, w in zip(xs, widths):
        row = next((r for r in range(levels) if last_end[r] <= x), None)
        if row is None:
            row = min(range(levels), key=lambda r: last_end[r])
        last_end[row] = x + w
        out.append(row)
    return out


def _clip_to(text, rect: Rectangle, ax) -> None:
    """Clip a label to its bar (Agg clips text to rectangles only, not to paths)."""
    x, y = rect.get_xy()
    box = Bbox.from_bounds(x, y, rect.get_width(), rect.get_height())
    text.set_clip_box(TransformedBbox(box, ax.transData))
    text.set_clip_on(True)


def _merge(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[list[float]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def render_timeline(report: dict, out_png) -> Path:
    """Draw the report's timeline picture to `out_png` (PNG) and return its path."""
    # A CJK font without a bold face makes matplotlib warn on every bold label; the
    # regular face is what we want anyway, and stderr is for the CLI's errors.
    fm_log = logging.getLogger("matplotlib.font_manager")
    level = fm_log.level
    fm_log.setLevel(logging.ERROR)
    try:
        return _render(report, Path(out_png))
    finally:
        fm_log.setLevel(level)


def _render(report: dict, out_png: Path) -> Path:
    out_png.parent.mkdir(parents=True, exist_ok=True)
    font = cjk_font()
    has_cjk = font is not None
    # DejaVu for Latin (it has bold), the CJK font for the glyphs DejaVu lacks.
    family = ["DejaVu Sans", font] if font else ["DejaVu Sans"]

    def T(s: Any) -> str:  # noqa: N802 - every label goes through the font check
        return _text(s, has_cjk)

    checks = [c for c in report.get("checks") or [] if isinstance(c, dict)]
    timeline = report.get("timeline") or {}
    faces = timeline.get("faces") or {}
    levels = timeline.get("audio_level_dbfs") or {}
    transcript = [s for s in report.get("transcript") or [] if isinstance(s, dict)]
    known_time = time_extent(report) is not None
    extent = time_extent(report) or 1.0
    verdict = str(report.get("verdict") or "?")

    findings = [c for c in checks if c.get("status") in SPAN_STATUS]
    speakers = [s for s in ("staff", "customer", "unknown")
                if any(seg.get("speaker", "unknown") == s for seg in transcript)]
    speakers += sorted({str(seg.get("speaker")) for seg in transcript} - set(speakers)
                       - {"None"})
    marks, missing = phrase_marks(report)
    # Phrases heard in the same stretch (whisper often merges sentences into one
    # segment) share one label; labels go on as many rows as they need.
    grouped: dict[tuple, dict] = {}
    for m in sorted(marks, key=lambda m: (m["start"], m["end"])):
        key = (m["start"], m["end"], m["state"], m["kind"])
        if key in grouped:
            grouped[key]["id"] += ", " + m["id"]
        else:
            grouped[key] = dict(m)
    marks = list(grouped.values())
    left, right, width_in = 0.12, 0.985, 16.0
    px_per_s = (right - left) * width_in * 100 / extent
    widths = [max((len(m["id"]) + 3) * 6.0 / px_per_s, m["end"] - m["start"]) for m in marks]
    rows = _stagger([m["start"] for m in marks], widths, MAX_LABEL_ROWS)
    n_rows = max(rows, default=0) + 1

    # Lanes from the top: (label, kind, payload, height in lane units).
    lanes: list[tuple[str, str, Any, float]] = []
    for c in findings:
        lanes.append((str(c.get("id", "?")), "finding", c, 1.0))
    for role, label in (("staff", "staff face"), ("customer", "customer face"),
                        ("extra", "third person")):
        lanes.append((label, "face", role, 1.0))
    for spk in speakers or [None]:
        label = "speech" if spk in (None, "unknown") and len(speakers) <= 1 \
            else f"speech: {'mixed' if spk == 'unknown' else spk}"
        lanes.append((label, "speech", spk, 1.0))
    lanes.append(("phrases", "phrases", None, 1.0 + 0.62 * n_rows))

    footer = _footer_lines(report, checks, T)
    lane_units = sum(h for *_, h in lanes)
    header_in, main_in, audio_in, legend_in = 0.8, 0.34 * lane_units, 1.1, 0.55
    footer_in = 0.21 * len(footer) + 0.2
    fig_h = header_in + main_in + audio_in + legend_in + footer_in
    fig = Figure(figsize=(width_in, fig_h), dpi=100)
    FigureCanvasAgg(fig)

    def y_of(inches_from_top: float) -> float:
        return 1 - inches_from_top / fig_h

    ax = fig.add_axes([left, y_of(header_in + main_in), right - left, main_in / fig_h])
    ax_audio = fig.add_axes([left, y_of(header_in + main_in + audio_in - 0.1), right - left,
                             (audio_in - 0.3) / fig_h], sharex=ax)

    # Header: recording id, verdict badge, ruleset, duration and engine.
    fig.text(0.01, y_of(0.3), T(report.get("recording_id") or "(no recording id)"),
             fontsize=15, weight="bold", va="center", fontfamily=family)
    fig.text(right, y_of(0.3), f" {verdict.upper()} ", fontsize=15, weight="bold",
             color="white", ha="right", va="center",
             bbox={"boxstyle": "round,pad=0.3", "fc": STATUS_COLOUR.get(verdict, "#444"),
                   "ec": "none"})
    rs = report.get("ruleset") or {}
    eng = report.get("engine") or {}
    sub = [f"verdict {verdict}",
           f"ruleset {rs.get('id')} {rs.get('version', '')}".strip() if rs else "no ruleset",
           f"duration {_fmt_clock(report['duration_s'])}" if _num(report.get("duration_s"))
           else "duration unknown"]
    sub += [f"{name} {eng[k]}" for k, name in (("version", "dualrec"), ("asr_model", "speech"),
                                                ("face_detector", "faces")) if eng.get(k)]
    fig.text(0.01, y_of(0.62), T("   ·   ".join(sub)), fontsize=9.5, color="#555",
             va="center", fontfamily=family)

    # Lane geometry: y grows downwards from the top lane.
    ys, y = [], 0.0
    for *_, h in lanes:
        ys.append(y)
        y += h
    ax.set_ylim(y, 0)
    ax.set_xlim(0, extent)
    ax.set_yticks([yy + h / 2 for yy, (*_, h) in zip(ys, lanes)])
    ax.set_yticklabels([T(lbl) for lbl, *_ in lanes], fontsize=9.5)
    ax.tick_params(axis="y", length=0)
    ax.tick_params(axis="x", labelbottom=False, length=0)
    for tick, (_, kind, payload, _) in zip(ax.get_yticklabels(), lanes):
        if kind == "finding":
            tick.set_color(STATUS_COLOUR.get(payload.get("status"), "#000"))
            tick.set_weight("bold")
    for yy, (*_, h) in zip(ys, lanes):
        ax.add_patch(Rectangle((0, yy + 0.1), extent, h - 0.2, fc=LANE_BG, ec="none",
                               zorder=0))
    kinds = [k for _, k, _, _ in lanes]
    for i in range(1, len(lanes)):
        if kinds[i] != kinds[i - 1]:
            ax.axhline(ys[i], color="#aaaaaa", lw=0.8, zorder=1)
    for spine in ("top", "right", "left", "bottom"):
        ax.spines[spine].set_visible(False)
    step = _tick_step(extent)
    ticks = [i * step for i in range(int(extent // step) + 1)]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.grid(axis="x", color="#d8d8d8", lw=0.6)
    ax.set_axisbelow(True)  # grid over the lane backgrounds, under the bars

    def note(yy: float, h: float, text: str, colour: str = "#888") -> None:
        ax.text(extent * 0.004, yy + h / 2, text, fontsize=8.5, color=colour, va="center",
                style="italic", zorder=5, fontfamily=family)

    # Findings, shaded faintly through every lane so the moment lines up.
    shade: dict[str, list[tuple[float, float]]] = {}
    min_w = extent * 0.003
    for yy, (_, kind, check, h) in zip(ys, lanes):
        if kind != "finding":
            continue
        colour = STATUS_COLOUR.get(check.get("status"), STATUS_COLOUR["fail"])
        spans = labelled_problem_spans(check)
        joined: dict[tuple[float, float], list[str]] = {}
        for a, b, label in spans:
            names = joined.setdefault((a, b), [])
            if label and label not in names:
                names.append(label)
        for (a, b), names in joined.items():
            label = ", ".join(names)
            rect = Rectangle((a, yy + 0.14), max(b - a, min_w), h - 0.28, fc=colour,
                             ec="white", lw=0.8, zorder=3)
            ax.add_patch(rect)
            if label:
                label = T(label)
                if (b - a) * px_per_s >= len(label) * 5.5 + 8:   # fits inside the bar
                    txt = ax.text(a + extent * 0.002, yy + h / 2, label, fontsize=7.5,
                                  color="white", va="center", zorder=4, fontfamily=family)
                    _clip_to(txt, rect, ax)
                else:                                             # beside it
                    ax.text(max(b, a + min_w) + extent * 0.002, yy + h / 2, label,
                            fontsize=7.5, color=colour, va="center", zorder=4,
                            fontfamily=family)
            shade.setdefault(colour, []).append((a, max(b, a + min_w)))
        untimed = untimed_problems(check)
        if untimed and spans:
            ax.text(extent * 0.996, yy + h / 2, T("not heard: " + ", ".join(untimed)),
                    fontsize=8, color=colour, ha="right", va="center", zorder=5)
        elif not spans:
            note(yy, h, T(_clip(f"{check.get('status')} (no time span): "
                                f"{check.get('message', '')}", 170)), colour)
    for colour, spans in shade.items():
        for a, b in _merge(spans):
            for axis in (ax, ax_audio):
                axis.axvspan(a, b, color=colour, alpha=0.08, zorder=0.6, lw=0)

    # Faces.
    for yy, (_, kind, role, h) in zip(ys, lanes):
        if kind != "face":
            continue
        runs = faces.get(role)
        if runs is None:
            note(yy, h, "no face analysis" if not faces else "not reported")
            continue
        for a, b in runs:
            ax.add_patch(Rectangle((a, yy + 0.2), max(b - a, extent * 0.002), h - 0.4,
                                   fc=ROLE_COLOUR[role], ec="none", zorder=2))
        if not runs:
            note(yy, h, "none" if role == "extra" else "never identifiable")

    # Speech segments (with their text when a Chinese font is available).
    for yy, (_, kind, spk, h) in zip(ys, lanes):
        if kind != "speech":
            continue
        if spk is None:
            note(yy, h, "no transcript")
            continue
        for seg in transcript:
            if str(seg.get("speaker", "unknown")) != spk:
                continue
            a, b = _num(seg.get("start_s")) or 0.0, _num(seg.get("end_s")) or 0.0
            rect = Rectangle((a, yy + 0.18), max(b - a, extent * 0.002), h - 0.36,
                             fc=SPEECH_COLOUR.get(spk, "#cfcfcf"), ec="white", lw=0.8,
                             zorder=2)
            ax.add_patch(rect)
            if has_cjk and seg.get("text"):
                txt = ax.text(a + extent * 0.002, yy + h / 2, str(seg["text"]),
                              fontsize=7.5, va="center", color="#222", zorder=3,
                              fontfamily=family)
                _clip_to(txt, rect, ax)

    # Required phrases and confirmation questions: a marker where each was heard, its
    # id on one of three rows (so neighbours do not collide) over the span it took.
    yy, h = next((yy, h) for yy, (_, kind, _, h) in zip(ys, lanes) if kind == "phrases")
    state_colour = {"found": STATUS_COLOUR["pass"], "near": STATUS_COLOUR["review"],
                    "missing": STATUS_COLOUR["fail"]}
    base = yy + 0.38
    # Near misses and misses drawn last, so a found phrase never hides them.
    order = sorted(range(len(marks)), key=lambda i: marks[i]["state"] == "found", reverse=True)
    for m, row in ((marks[i], rows[i]) for i in order):
        colour = state_colour[m["state"]]
        ly = base + 0.62 + row * 0.62
        ax.plot([m["start"], m["start"]], [base, ly], color=colour, lw=0.7, zorder=3)
        if m["end"] > m["start"]:
            ax.plot([m["start"], m["end"]], [ly + 0.2, ly + 0.2], color=colour, lw=2.2,
                    alpha=0.55, solid_capstyle="butt", zorder=3)
        ax.plot([m["start"]], [base], marker="v" if m["kind"] == "phrase" else "D",
                color=colour, ms=7, zorder=4, mec="white", mew=0.6, ls="")
        ax.text(m["start"] + extent * 0.001, ly - 0.05,
                m["id"] + (" ?" if m["state"] == "near" else ""), fontsize=8, color=colour,
                va="center", ha="left", zorder=4,
                bbox={"boxstyle": "square,pad=0.05", "fc": LANE_BG, "ec": "none"})
    if missing:
        ax.text(extent * 0.996, base, "not heard: " + ", ".join(missing), fontsize=8.5,
                color=STATUS_COLOUR["fail"], ha="right", va="center", weight="bold",
                zorder=5, bbox={"boxstyle": "round,pad=0.25", "fc": "white",
                                "ec": STATUS_COLOUR["fail"], "lw": 0.8})
    elif not marks:
        note(yy, h, "no phrase results")

    # Audio level per channel, one step per second.
    ax_audio.set_ylim(-80, 0)
    ax_audio.set_yticks([-60, -40, -20, 0])
    ax_audio.tick_params(axis="y", labelsize=8)
    ax_audio.set_ylabel("audio dBFS", fontsize=9.5, rotation=0, ha="right", va="center",
                        labelpad=28)
    ax_audio.grid(axis="both", color="#e2e2e2", lw=0.6)
    ax_audio.set_axisbelow(True)
    for spine in ("top", "right"):
        ax_audio.spines[spine].set_visible(False)
    drawn = 0
    for spk, pts in sorted(levels.items()):
        pts = [(float(t), max(float(d), -80.0)) for t, d in pts
               if _num(t) is not None and _num(d) is not None]
        if not pts:
            continue
        xs = [t for t, _ in pts] + [pts[-1][0] + 1.0]
        ds = [d for _, d in pts] + [pts[-1][1]]
        ax_audio.step(xs, ds, where="post", lw=1.0, color=ROLE_COLOUR.get(spk, "#555"),
                      label="mixed" if spk == "unknown" else spk, zorder=3)
        drawn += 1
    if drawn > 1:
        ax_audio.legend(loc="lower right", fontsize=8, frameon=False, ncol=drawn)
    elif not drawn:
        ax_audio.text(extent * 0.004, -40, "no audio levels", fontsize=8.5, color="#888",
                      va="center", style="italic")
    ax_audio.xaxis.set_major_locator(FixedLocator(ticks if known_time else []))
    ax_audio.xaxis.set_major_formatter(FuncFormatter(_fmt_clock))
    if not known_time:
        ax_audio.set_xlabel("time unknown", fontsize=8.5, color="#888")
    ax_audio.tick_params(axis="x", labelsize=8.5)
    ax_audio.set_xlim(0, extent)

    # Legend row under the time axis.
    def marker(shape: str, state: str, label: str) -> Line2D:
        return Line2D([], [], marker=shape, ls="", color=state_colour[state], label=label)

    handles = [Patch(fc=ROLE_COLOUR["staff"], label="staff face"),
               Patch(fc=ROLE_COLOUR["customer"], label="customer face"),
               Patch(fc=ROLE_COLOUR["extra"], label="third person"),
               marker("v", "found", "phrase heard"),
               marker("v", "near", "near miss (?)"),
               marker("D", "found", "confirmation answered")]
    if any(m["kind"] == "confirmation" and m["state"] != "found" for m in marks):
        handles += [marker("D", "near", "answer uncertain"),
                    marker("D", "missing", "not confirmed")]
    handles += [Patch(fc=STATUS_COLOUR["fail"], label="finding: fail"),
                Patch(fc=STATUS_COLOUR["review"], label="finding: review")]
    fig.legend(handles=handles, loc="center left", ncol=len(handles), fontsize=8.5,
               frameon=False, bbox_to_anchor=(left - 0.005, y_of(header_in + main_in
                                                               + audio_in + 0.3)),
               handlelength=1.2, columnspacing=1.2)

    # An error report: say so over whatever could be drawn.
    if report.get("error") and not faces and not transcript:
        ax.text(extent / 2, y / 2, T(_clip("could not be verified: " + str(report["error"]),
                                           150)),
                ha="center", va="center", fontsize=12, color=STATUS_COLOUR["error"],
                zorder=6, fontfamily=family,
                bbox={"boxstyle": "round,pad=0.5", "fc": "white",
                      "ec": STATUS_COLOUR["error"]})
    # What did not pass, in words.
    top_footer = header_in + main_in + audio_in + legend_in
    for i, (status, line) in enumerate(footer):
        fig.text(0.01, y_of(top_footer + 0.12 + 0.21 * i), line, fontsize=8.8,
                 color=STATUS_COLOUR.get(status, "#333"), va="center", fontfamily=family)
    fig.savefig(out_png, format="png", dpi=100)
    return out_png


def _footer_lines(report: dict, checks: list[dict], T) -> list[tuple[str, str]]:
    """What did not pass, in words: up to two lines per check."""
    lines = []
    shown = [c for c in checks if c.get("status") in SPAN_STATUS]
    for c in shown[:8]:
        text = T(f"{str(c.get('status')).upper():<6} {c.get('id')}: {c.get('message', '')}")
        wrapped = textwrap.wrap(text, 215, subsequent_indent="        ")
        if len(wrapped) > 2:
            wrapped = [wrapped[0], _clip(wrapped[1], 212) + ("…" if len(wrapped[1]) < 212 else "")]
        lines += [(c.get("status"), w) for w in wrapped]
    if len(shown) > 8:
        lines.append(("skipped", f"… and {len(shown) - 8} more"))
    if report.get("error") and not any(c.get("status") == "error" for c in shown):
        lines.append(("error", T(_clip(f"ERROR  {report['error']}", 230))))
    if not lines:
        passed = sum(1 for c in checks if c.get("status") == "pass")
        lines.append(("pass", f"all {passed} checks that ran passed"))
    return lines
