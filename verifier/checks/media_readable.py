"""media.readable: the file decodes and has the streams a 双录 needs (picture and sound,
银监办发〔2017〕110号: audio and video together)."""
from __future__ import annotations

from verifier.report import CheckResult

ID = "media.readable"
SEVERITY = "critical"
NEEDS = ()


def run(ctx) -> CheckResult:
    if "media" in ctx.failed:
        return CheckResult(ID, "error", SEVERITY, ctx.failed["media"])
    media, audio = ctx.media, ctx.audio_media or ctx.media
    problems = []
    if media.video is None:
        problems.append(f"{media.path}: no video stream")
    if audio is None or audio.audio is None:
        where = audio.path if audio is not None else media.path
        problems.append(f"{where}: no audio stream")
    elif ctx.sidecar.audio_channels:
        needed = max(ctx.sidecar.audio_channels.values()) + 1
        if audio.audio.channels < needed:
            problems.append(f"{audio.path}: audio has {audio.audio.channels} channel(s) but "
                            f"audio_channels needs {needed}")
    if not ctx.duration_s or ctx.duration_s <= 0:
        problems.append(f"{media.path}: zero duration")
    if ctx.decode_errors:
        problems.append(f"{media.path}: truncated or corrupt: {ctx.decode_errors[0]}")
    evidence = [{"start_s": 0.0, "end_s": round(ctx.duration_s or 0.0, 3),
                 "detail": _describe(media, ctx.audio_media)}]
    if problems:
        return CheckResult(ID, "error", SEVERITY, "; ".join(problems), evidence)
    return CheckResult(ID, "pass", SEVERITY, "video and audio decode", evidence)


def _describe(media, audio_media) -> str:
    parts = []
    if media.video is not None:
        v = media.video
        parts.append(f"video {v.codec} {v.width}x{v.height} {v.fps:.2f} fps")
    source = audio_media or media
    if source.audio is not None:
        a = source.audio
        where = f" ({source.path.name})" if audio_media is not None else ""
        parts.append(f"audio {a.codec} {a.sample_rate} Hz {a.channels} ch{where}")
    return ", ".join(parts) or "no streams"
