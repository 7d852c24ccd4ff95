"""media.continuity: one unbroken recording, sound and picture together.

"影音资料清晰、完整、连贯", sound in sync with picture (银监办发〔2017〕110号), and a recording
"不受人为干预或操纵": a cut, a paused recording or two recordings spliced together show
in the packet timestamps. Read from the demuxer only (no decoding), for the video and
the audio stream (or the separate audio file, placed on the video's clock with the
sidecar's `audio_offset_s`):

* a hole in either timeline (the next frame or audio packet comes much later than the
  stream's own packet spacing): review above `gap_review_s`, fail above `gap_fail_s`;
* timestamps going backwards in decode order by more than B-frame reordering explains
  (`backwards_tolerance_s`): two recordings spliced, or the clock reset: fail;
* audio and video starting apart (`start_offset_*`, one container only: a separate
  audio file's start is what the sidecar declares) and ending apart
  (`length_diff_*`: one stream stops while the other goes on).

What timestamps cannot show: an edit re-encoded with fresh, continuous timestamps, and
sound that drifts against the picture while its timestamps agree.
"""
from __future__ import annotations

import numpy as np

from verifier.report import CheckResult, fmt_time

ID = "media.continuity"
SEVERITY = "critical"
NEEDS = ()

MAX_EVIDENCE = 20  # per kind of finding; the message gives the total


def run(ctx) -> CheckResult:
    from verifier.media import MediaError, packet_times

    if "media" in ctx.failed or ctx.media is None:
        return CheckResult(ID, "skipped", SEVERITY, "not run: the media could not be read")
    media = ctx.media
    if media.video is None:
        return CheckResult(ID, "skipped", SEVERITY, "not run: no video stream")
    audio_src = ctx.audio_media or media
    try:
        video = packet_times(media.path, "video", sort=False, info=media)
        audio = (packet_times(audio_src.path, "audio", sort=False, info=audio_src)
                 if audio_src.audio is not None else None)
    except MediaError as exc:
        return CheckResult(ID, "error", SEVERITY, f"packet timestamps unreadable: {exc}")
    separate = ctx.audio_media is not None
    offset = float(getattr(ctx.sidecar, "audio_offset_s", 0.0) or 0.0) if separate else 0.0
    return assess(ctx, video, audio, video_fps=media.video.fps or 0.0,
                  audio_offset_s=offset, separate_audio=separate)


def assess(ctx, video: np.ndarray, audio: np.ndarray | None, *, video_fps: float = 0.0,
           audio_offset_s: float = 0.0, separate_audio: bool = False) -> CheckResult:
    """The check on packet times (seconds, decode order): `video`, and `audio` (None:
    no audio stream) on its own file's clock, placed at `audio_offset_s` on the video's
    when it is a separate file."""
    t = {k: float(ctx.threshold("media", k)) for k in (
        "gap_review_s", "gap_fail_s", "backwards_tolerance_s", "start_offset_review_s",
        "start_offset_fail_s", "length_diff_review_s", "length_diff_fail_s")}
    findings: list[tuple[str, str]] = []  # (status, text)
    evidence: list[dict] = []

    vspan = _track("video", np.asarray(video, float), 0.0, video_fps, t, findings, evidence)
    if vspan is None:
        return CheckResult(ID, "error", SEVERITY, "the video stream has no timestamped frames")
    aspan = None
    if audio is not None:
        aspan = _track("audio", np.asarray(audio, float), audio_offset_s, 0.0, t, findings,
                       evidence)
        if aspan is None:
            findings.append(("fail", "the audio stream has no timestamped packets"))
    if aspan is not None:
        _sync(vspan, aspan, audio_offset_s, separate_audio, t, findings, evidence)

    evidence.sort(key=lambda e: e["start_s"])
    summary = (f"video {fmt_time(vspan[0])}-{fmt_time(vspan[1])}"
               + (f", audio {fmt_time(aspan[0])}-{fmt_time(aspan[1])}" if aspan else ""))
    if not findings:
        return CheckResult(ID, "pass", SEVERITY,
                           f"{summary}: no gaps, no timestamp jumps, audio and video agree")
    status = "fail" if any(s == "fail" for s, _ in findings) else "review"
    return CheckResult(ID, status, SEVERITY, "; ".join(text for _, text in findings), evidence)


def _track(kind: str, times: np.ndarray, shift: float, fps: float, t: dict,
           findings: list, evidence: list) -> tuple[float, float] | None:
    """Gaps and backward jumps of one stream; returns its (start, end) on the video
    clock, or None without packets."""
    times = times[np.isfinite(times)]
    if times.size == 0:
        return None
    ordered = np.sort(times)
    steps = np.diff(ordered)
    positive = steps[steps > 1e-9]
    # the stream's own spacing: frame period, audio packet duration
    period = float(np.median(positive)) if positive.size else (1.0 / fps if fps else 0.0)
    span = (float(ordered[0]) + shift, float(ordered[-1]) + period + shift)

    # 1. backwards in decode order (B-frames step back a few frames; a splice, much more)
    tolerance = max(t["backwards_tolerance_s"], 8 * period)
    if times.size > 1:
        running = np.maximum.accumulate(times)[:-1]
        back = running - times[1:] > tolerance
        starts = np.flatnonzero(back & ~np.concatenate(([False], back[:-1])))
        for i in starts:
            top, new = float(running[i]), float(times[i + 1])
            findings.append(("fail", f"{kind} timestamps go back from {fmt_time(top + shift)} "
                                     f"to {fmt_time(new + shift)} ({top - new:.1f} s): "
                                     "recordings spliced or the clock reset"))
        for i in starts[:MAX_EVIDENCE]:
            top, new = float(running[i]), float(times[i + 1])
            evidence.append({"start_s": round(new + shift, 2), "end_s": round(top + shift, 2),
                             "kind": f"{kind}_backwards",
                             "detail": f"{kind} timestamps go back {top - new:.1f} s, from "
                                       f"{fmt_time(top + shift)} to {fmt_time(new + shift)}"})

    # 2. holes in presentation order
    floor = max(t["gap_review_s"], 3 * period)
    missing = steps - period
    holes = np.flatnonzero(missing > floor + 1e-3)
    if holes.size:
        fails = int(np.sum(missing[holes] > max(t["gap_fail_s"], floor)))
        worst = int(holes[np.argmax(missing[holes])])
        n = holes.size
        text = (f"{n} gap{'s' if n > 1 else ''} in the {kind} timeline, longest "
                f"{missing[worst]:.1f} s at {fmt_time(ordered[worst] + shift)}")
        findings.append(("fail" if fails else "review", text))
        for i in sorted(holes, key=lambda i: -missing[i])[:MAX_EVIDENCE]:
            a, b = float(ordered[i]), float(ordered[i + 1])
            evidence.append({"start_s": round(a + period + shift, 2), "end_s": round(b + shift, 2),
                             "kind": f"{kind}_gap",
                             "detail": f"{kind} jumps {fmt_time(a + shift)} → {fmt_time(b + shift)}: "
                                       f"{b - a - period:.1f} s missing"})
    return span


def _sync(v: tuple[float, float], a: tuple[float, float], offset: float, separate: bool,
          t: dict, findings: list, evidence: list) -> None:
    def grade(diff: float, review: float, fail: float) -> str | None:
        return "fail" if diff > fail else "review" if diff > review else None

    if not separate:
        d = a[0] - v[0]
        status = grade(abs(d), t["start_offset_review_s"], t["start_offset_fail_s"])
        if status:
            first, second = ("video", "audio") if d > 0 else ("audio", "video")
            findings.append((status, f"{second} starts {abs(d):.1f} s after the {first} "
                                     f"({fmt_time(min(a[0], v[0]))} → {fmt_time(max(a[0], v[0]))})"))
            evidence.append({"start_s": round(min(a[0], v[0]), 2),
                             "end_s": round(max(a[0], v[0]), 2), "kind": "start_offset",
                             "detail": f"only {first} for the first {abs(d):.1f} s"})
    d = a[1] - v[1]
    status = grade(abs(d), t["length_diff_review_s"], t["length_diff_fail_s"])
    if status:
        shorter, longer = ("video", "audio") if d > 0 else ("audio", "video")
        where = (f"; separate audio file placed at {offset:+.1f} s" if separate else "")
        findings.append((status, f"{shorter} ends {abs(d):.1f} s before the {longer} "
                                 f"({shorter} {fmt_time(min(a[1], v[1]))}, {longer} "
                                 f"{fmt_time(max(a[1], v[1]))}){where}"))
        evidence.append({"start_s": round(min(a[1], v[1]), 2), "end_s": round(max(a[1], v[1]), 2),
                         "kind": "end_offset",
                         "detail": f"{longer} without {shorter} for {abs(d):.1f} s"})
