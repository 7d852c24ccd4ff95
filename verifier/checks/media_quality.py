"""media.quality: picture and sound good enough to identify the people and their words.

"录像中应可明确辨别银行员工和消费者面部特征，录音应可明确辨识员工和消费者语言表述"
(银监办发〔2017〕110号). face.both_visible judges each face itself; this check judges the
recording as a whole, so a reviewer knows why faces or words may be lost:

* resolution and average frame rate at least the configured floor;
* no stretch longer than `max_bad_light_s` where the whole frame is too dark
  (mean brightness below `dark_luma`) or overexposed (above `bright_luma`);
* the loud seconds (90th percentile of per-second loudness, louder channel) at least
  `min_speech_dbfs`;
* no silence (every channel below `silence_dbfs`) longer than `max_silence_s` between
  the first and the last speech.

Severity major: a failure sends the recording to a person (verdict review).
"""
from __future__ import annotations

import numpy as np

from verifier.intervals import true_runs
from verifier.report import CheckResult, fmt_time

ID = "media.quality"
SEVERITY = "major"
NEEDS = ()


def run(ctx) -> CheckResult:
    if "media" in ctx.failed or ctx.media is None:
        return CheckResult(ID, "skipped", SEVERITY, "not run: the media could not be read")
    th = {k: float(ctx.threshold("media", k)) for k in (
        "min_short_side_px", "min_long_side_px", "min_fps", "dark_luma", "bright_luma",
        "max_bad_light_s", "min_speech_dbfs", "silence_dbfs", "max_silence_s",
        "min_evidence_s")}
    findings: list[str] = []
    evidence: list[dict] = []
    notes: list[str] = []
    end_s = float(ctx.duration_s or ctx.media.duration_s or 0.0)

    video = ctx.media.video
    if video is not None:
        _picture_format(video, th, findings, evidence, end_s)
    if ctx.frames:
        _light(ctx.frames, th, end_s, findings, evidence)
    elif video is not None:
        notes.append("brightness not assessed (" +
                     (ctx.failed.get("frames") or ctx.unavailable.get("frames")
                      or "no frames analysed") + ")")
    if ctx.audio_levels:
        _sound(ctx.audio_levels, ctx.transcript or [], th, findings, evidence, notes)
    else:
        notes.append("loudness not assessed (" +
                     (ctx.failed.get("transcript") or ctx.unavailable.get("transcript")
                      or "no audio analysed") + ")")

    evidence.sort(key=lambda e: e["start_s"])
    tail = ("; " + "; ".join(notes)) if notes else ""
    if findings:
        return CheckResult(ID, "fail", SEVERITY, "; ".join(findings) + tail, evidence)
    return CheckResult(ID, "pass", SEVERITY, "picture and sound good enough" + tail, evidence)


def _picture_format(video, th: dict, findings: list, evidence: list, end_s: float) -> None:
    short, long_ = sorted((video.width, video.height))
    if short < th["min_short_side_px"] or long_ < th["min_long_side_px"]:
        findings.append(f"resolution {video.width}x{video.height} below "
                        f"{th['min_long_side_px']:.0f}x{th['min_short_side_px']:.0f}")
        evidence.append({"start_s": 0.0, "end_s": round(end_s, 2), "kind": "resolution",
                         "detail": f"{video.width}x{video.height} pixels"})
    if video.fps and video.fps < th["min_fps"]:
        findings.append(f"frame rate {video.fps:.1f} fps below {th['min_fps']:g}")
        evidence.append({"start_s": 0.0, "end_s": round(end_s, 2), "kind": "frame_rate",
                         "detail": f"{video.fps:.2f} frames per second"})


def _light(frames, th: dict, end_s: float, findings: list, evidence: list) -> None:
    times = [f.t for f in frames]
    luma = np.array([f.luma for f in frames], float)
    limit, min_ev = th["max_bad_light_s"], th["min_evidence_s"]
    for kind, flags, bound in (
            ("too dark", luma < th["dark_luma"], f"< {th['dark_luma']:.0f}"),
            ("overexposed", luma > th["bright_luma"], f"> {th['bright_luma']:.0f}")):
        runs = true_runs(times, list(flags), end_s)
        long_runs = [(a, b) for a, b in runs if b - a > limit]
        for a, b in runs:
            if b - a >= min_ev:
                inside = [x for t, x in zip(times, luma) if a <= t < b]
                evidence.append({"start_s": round(a, 2), "end_s": round(b, 2),
                                 "kind": kind.replace(" ", "_"),
                                 "detail": f"{kind}: mean frame brightness "
                                           f"{np.mean(inside):.0f} {bound} (0-255)"})
        if long_runs:
            a, b = max(long_runs, key=lambda r: r[1] - r[0])
            findings.append(f"picture {kind} for {b - a:.1f} s ({fmt_time(a)}-{fmt_time(b)})"
                            + (f" and {len(long_runs) - 1} more stretch(es)"
                               if len(long_runs) > 1 else ""))


def _sound(levels: dict, transcript, th: dict, findings: list, evidence: list,
           notes: list) -> None:
    # per second, the louder channel: one microphone picking up is enough
    per_second: dict[float, float] = {}
    for series in levels.values():
        for t, db in series:
            per_second[t] = max(db, per_second.get(t, -200.0))
    if not per_second:
        notes.append("loudness not assessed (no whole second of audio)")
        return
    secs = np.array(sorted(per_second))
    db = np.array([per_second[t] for t in secs])
    loud = float(np.percentile(db, 90))
    if loud < th["min_speech_dbfs"]:
        findings.append(f"sound too quiet: loud seconds at {loud:.0f} dBFS "
                        f"(need {th['min_speech_dbfs']:.0f})")
        evidence.append({"start_s": float(secs[0]), "end_s": float(secs[-1] + 1),
                         "kind": "quiet", "detail": f"90th percentile loudness {loud:.1f} dBFS, "
                                                    f"loudest second {db.max():.1f} dBFS"})
    # the sale is on from the first to the last speech (recognised speech, else sound)
    if transcript:
        first, last = min(s.start_s for s in transcript), max(s.end_s for s in transcript)
    else:
        sounding = secs[db >= th["min_speech_dbfs"]]
        if sounding.size == 0:
            return
        first, last = float(sounding[0]), float(sounding[-1] + 1)
    inside = (secs >= np.floor(first)) & (secs + 1 <= np.ceil(last))
    silent = db < th["silence_dbfs"]
    runs = _runs(secs[inside], silent[inside])
    longest = max(runs, key=lambda r: r[1] - r[0], default=None)
    over = [r for r in runs if r[1] - r[0] > th["max_silence_s"]]
    for a, b in over:
        evidence.append({"start_s": a, "end_s": b, "kind": "silence",
                         "detail": f"silent for {b - a:.0f} s: every second below "
                                   f"{th['silence_dbfs']:.0f} dBFS while the sale is on"})
    if over:
        a, b = longest
        findings.append(f"silence for {b - a:.0f} s while the sale is on "
                        f"({fmt_time(a)}-{fmt_time(b)})"
                        + (f" and {len(over) - 1} more" if len(over) > 1 else ""))


def _runs(secs: np.ndarray, flags: np.ndarray) -> list[tuple[float, float]]:
    """Consecutive whole seconds where `flags` holds, as (start, end) with end exclusive."""
    out: list[tuple[float, float]] = []
    for t, f in zip(secs, flags):
        if not f:
            continue
        if out and abs(out[-1][1] - t) < 1e-6:
            out[-1] = (out[-1][0], float(t) + 1)
        else:
            out.append((float(t), float(t) + 1))
    return out
