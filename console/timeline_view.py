"""The recording page's timeline, from the stored report: the same reading of the
report as the timeline picture (verifier.timeline), laid out as lanes of spans the
page draws and the player seeks to."""
from __future__ import annotations

from typing import Any

from verifier.timeline import (SPAN_STATUS, labelled_problem_spans, phrase_marks,
                               time_extent, untimed_problems)

ROLES = ("staff", "customer", "extra")
ROLE_LABEL = {"staff": "seller", "customer": "customer", "extra": "third person"}


def _span(start: float, end: float, extent: float, **kw) -> dict[str, Any]:
    start = max(0.0, min(float(start), extent))
    end = max(start, min(float(end), extent))
    return {"start": start, "end": end, "x": start / extent * 1000,
            "w": max((end - start) / extent * 1000, 2.0), **kw}


def _absences(runs: list, extent: float) -> list[tuple[float, float]]:
    out, at = [], 0.0
    for a, b in sorted((float(a), float(b)) for a, b in runs):
        if a - at > 0.5:
            out.append((at, a))
        at = max(at, b)
    if extent - at > 0.5:
        out.append((at, extent))
    return out


def build(report: dict | None) -> dict[str, Any] | None:
    """Lanes of the report's timeline, or None when nothing in it is timed."""
    if not report:
        return None
    extent = time_extent(report)
    if not extent:
        return None
    lanes = []
    findings = []
    for check in report.get("checks") or []:
        if check.get("status") not in SPAN_STATUS:
            continue
        spans = [_span(a, b, extent, kind=check["status"], label=f"{check['id']} {label}".strip(),
                       check=check["id"])
                 for a, b, label in labelled_problem_spans(check)]
        untimed = untimed_problems(check)
        findings.append({"check": check["id"], "status": check["status"],
                         "message": check.get("message", ""), "spans": spans,
                         "untimed": untimed})
        lanes.append({"name": check["id"], "group": "finding", "spans": spans})
    faces = (report.get("timeline") or {}).get("faces") or {}
    for role in ROLES:
        runs = faces.get(role)
        if runs is None:
            continue
        spans = [_span(a, b, extent, kind=f"face-{role}", label=f"{ROLE_LABEL[role]} visible")
                 for a, b in runs]
        if role != "extra":
            spans += [_span(a, b, extent, kind="absent",
                            label=f"{ROLE_LABEL[role]} not identifiable")
                      for a, b in _absences(runs, extent)]
        lanes.append({"name": f"face: {ROLE_LABEL[role]}", "group": "face", "spans": spans})
    speech: dict[str, list] = {}
    for seg in report.get("transcript") or []:
        try:
            a, b = float(seg["start_s"]), float(seg["end_s"])
        except (KeyError, TypeError, ValueError):
            continue
        who = str(seg.get("speaker") or "unknown")
        speech.setdefault(who, []).append(_span(a, b, extent, kind=f"speech-{who}",
                                                label=str(seg.get("text", ""))))
    for who, spans in sorted(speech.items()):
        lanes.append({"name": f"speech: {who}", "group": "speech", "spans": spans})
    marks, missing = phrase_marks(report)
    if marks:
        lanes.append({"name": "phrases", "group": "phrase",
                      "spans": [_span(m["start"], max(m["end"], m["start"] + 0.5), extent,
                                      kind=f"phrase-{m['state']}",
                                      label=f"{m['kind']} {m['id']}: {m['state']}")
                                for m in marks]})
    ticks = _ticks(extent)
    return {"extent": extent, "lanes": lanes, "findings": findings, "missing": missing,
            "ticks": [{"x": t / extent * 1000, "t": t} for t in ticks]}


def _ticks(extent: float) -> list[float]:
    for step in (5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600):
        if extent / step <= 12:
            break
    return [i * step for i in range(int(extent // step) + 1)]
