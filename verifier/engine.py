"""Verify one recording: load its sidecar and ruleset, analyse picture and sound once,
run every check, and decide the verdict. Bad input never raises: it becomes a report
with verdict `error` and a message naming the problem."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from verifier import __version__
from verifier.checks import Context, check_ids, run_all
from verifier.config import Settings, load_settings
from verifier.models import ModelError, sha256_file
from verifier.report import CheckResult, Report, decide_verdict
from verifier.ruleset import RulesetError, RulesetLibrary, load_ruleset
from verifier.sidecar import Sidecar, SidecarError, load_sidecar
from verifier.textnorm import to_simplified

log = logging.getLogger(__name__)


@dataclass
class Analysers:
    """The loaded models; built once and shared by every recording of a run."""
    settings: Settings
    detector: object
    transcriber: object
    face_model: str
    asr_model: str

    @classmethod
    def load(cls, settings: Settings) -> "Analysers":
        from verifier.asr import Transcriber
        from verifier.faces import FaceDetector, FaceThresholds
        from verifier.models import resolve_whisper, resolve_yunet

        yunet = resolve_yunet(settings)
        whisper = resolve_whisper(settings)
        detector = FaceDetector(yunet.path, FaceThresholds.from_settings(settings),
                                int(settings.threshold("faces", "analysis_max_width")))
        return cls(settings, detector, Transcriber(whisper, settings), yunet.name, whisper.name)

    @property
    def engine_info(self) -> dict[str, str]:
        return {"version": __version__, "asr_model": self.asr_model,
                "face_detector": self.face_model}


def _error_report(recording_id: str, sha: str | None, check_id: str, message: str,
                  engine: dict[str, str], sidecar: Sidecar | None = None) -> Report:
    checks = [CheckResult(check_id, "error", "critical", message)]
    checks += [CheckResult(cid, "skipped", "critical", f"not run: {message}")
               for cid in check_ids() if cid != check_id]
    return Report(recording_id=recording_id, sha256=sha, duration_s=None, verdict="error",
                  checks=checks, transcript=[], ruleset=None, engine=engine, error=message,
                  metadata=sidecar.masked_dump() if sidecar else None)


def _media_summary(media) -> dict | None:
    if media is None:
        return None
    out = {"file": media.path.name if hasattr(media.path, "name") else str(media.path),
           "format": media.format_name, "size_bytes": media.size_bytes,
           "duration_s": round(media.duration_s, 3) if media.duration_s else None}
    if media.video is not None:
        v = media.video
        out["video"] = {"codec": v.codec, "width": v.width, "height": v.height,
                        "fps": round(v.fps, 3) if v.fps else None}
    if media.audio is not None:
        a = media.audio
        out["audio"] = {"codec": a.codec, "sample_rate": a.sample_rate, "channels": a.channels}
    return out


def verify(media_path: str | Path, meta_path: str | Path | None = None,
           ruleset_path: str | Path | None = None, settings: Settings | None = None,
           analysers: Analysers | None = None) -> Report:
    settings = settings or load_settings()
    media_path = Path(media_path)
    recording_id = media_path.stem
    engine = analysers.engine_info if analysers else {"version": __version__}

    if not media_path.is_file():
        what = "is a folder" if media_path.is_dir() else "does not exist"
        return _error_report(recording_id, None, "media.readable",
                             f"{media_path}: media file {what}", engine)
    try:
        sha = sha256_file(media_path)
    except OSError as exc:
        return _error_report(recording_id, None, "media.readable",
                             f"{media_path}: cannot be read ({exc.strerror})", engine)
    try:
        sidecar = load_sidecar(media_path, meta_path)
    except SidecarError as exc:  # the file's stem, with the customer's data masked
        return _error_report(exc.display_id or recording_id, sha, "metadata.sidecar",
                             str(exc), engine)
    recording_id = sidecar.recording_id
    try:
        ruleset = (load_ruleset(ruleset_path) if ruleset_path else
                   RulesetLibrary(settings.rulesets_dirs).select(
                       sidecar.product_category, sidecar.product_risk_level, sidecar.ruleset))
    except RulesetError as exc:
        return _error_report(recording_id, sha, "metadata.ruleset", str(exc), engine, sidecar)
    try:
        analysers = analysers or Analysers.load(settings)
    except ModelError as exc:
        return _error_report(recording_id, sha, "engine.models", str(exc), engine, sidecar)

    ctx = Context(settings=settings, sidecar=sidecar, ruleset=ruleset)
    _analyse(ctx, media_path, analysers)
    checks = run_all(ctx)
    return Report(
        recording_id=recording_id, sha256=sha, duration_s=ctx.duration_s,
        verdict=decide_verdict(checks), checks=checks,
        transcript=[{"start_s": s.start_s, "end_s": s.end_s, "speaker": s.speaker,
                     "text": to_simplified(s.text), "raw": s.text}
                    for s in (ctx.transcript or [])],
        ruleset={"id": ruleset.id, "version": ruleset.version},
        engine=analysers.engine_info, metadata=sidecar.masked_dump(),
        media=_media_summary(ctx.media),
        error=next((c.message for c in checks if c.status == "error"), None),
        timeline=_timeline(ctx))


def _timeline(ctx: Context) -> dict:
    """What was seen and heard over time, compactly: for the timeline picture and for
    people reading the report without the media."""
    from verifier.faces import presence

    out: dict = {}
    if ctx.frames:
        out["sample_fps"] = float(ctx.threshold("faces", "sample_fps"))
        out["faces"] = presence(ctx.frames, ctx.duration_s or ctx.frames[-1].t)
    if ctx.audio_levels:
        out["audio_level_dbfs"] = {spk: [[t, db] for t, db in lv]
                                   for spk, lv in ctx.audio_levels.items()}
    return out


def _analyse(ctx: Context, media_path: Path, analysers: Analysers) -> None:
    from verifier.media import MediaError, probe

    def unavailable(reason: str, *names: str) -> None:
        for name in names:
            ctx.unavailable.setdefault(name, reason)

    try:
        ctx.media = probe(media_path)
        if ctx.sidecar.audio_path is not None:
            ctx.audio_media = probe(ctx.sidecar.audio_path)
    except MediaError as exc:
        ctx.failed["media"] = str(exc)
        unavailable("the media could not be read", "frames", "transcript")
        return
    media = ctx.media
    ctx.duration_s = media.duration_s

    if media.video is None:
        unavailable("no video stream", "frames")
    else:
        try:
            video = analyse_video(media, analysers)
            ctx.frames = video.frames
            ctx.decode_errors = video.errors
            log.info("frame analysis (%s): %s", video.mode, video.stats)
        except MediaError as exc:
            ctx.failed["frames"] = str(exc)
        except Exception as exc:  # a broken frame must not take the batch down
            log.exception("face analysis failed for %s", media_path)
            ctx.failed["frames"] = f"face analysis failed: {exc}"

    source = ctx.audio_media or media
    if source.audio is None:
        unavailable("no audio stream", "transcript")
        return
    if ctx.decode_errors:
        unavailable("the media is truncated or corrupt", "transcript")
        return
    offset = (ctx.sidecar.audio_offset_s or 0.0) if ctx.audio_media else 0.0
    duration = source.audio.duration_s or source.duration_s or 0.0
    try:
        channels = ctx.sidecar.audio_channels or {"unknown": None}
        segments, levels = [], {}
        for speaker, channel in sorted(channels.items()):
            result = analysers.transcriber.transcribe_file(
                source.path, duration, channel=channel, offset_s=offset, speaker=speaker)
            segments += result.segments
            levels[speaker] = result.levels
        segments.sort(key=lambda s: (s.start_s, s.end_s))
        ctx.transcript = segments
        ctx.audio_levels = levels
    except MediaError as exc:
        ctx.failed["transcript"] = str(exc)
    except Exception as exc:
        log.exception("speech recognition failed for %s", media_path)
        ctx.failed["transcript"] = f"speech recognition failed: {exc}"


# --------------------------------------------------------------------------- frames
# The frame analysis behind ctx.frames. FINDINGS.md: decoding every frame of a 720p
# H.264 file costs ~15x real time, decoding only its keyframes ~170x. So by default
# (faces.scan: keyframes) the video is scanned on its keyframes, and decoded densely
# (faces.sample_fps) only in the windows between two keyframes where something the
# checks look at differs (which roles are identifiable, a third person, the frame
# going dark or overexposed), or where keyframes are further apart than
# faces.scan_max_keyframe_gap_s. `faces.scan: dense` decodes the whole file at
# sample_fps instead (the reference the fast path is tested against).


@dataclass
class VideoAnalysis:
    frames: list                        # list[FrameFaces], in time order
    errors: list[str]                   # decode errors ffmpeg printed
    mode: str                           # keyframes | dense
    stats: dict = field(default_factory=dict)


def analyse_video(media, analysers: Analysers) -> VideoAnalysis:
    """Faces and brightness over the video of `media` (a MediaInfo), in the configured
    scan mode."""
    from verifier.faces import analyse_frames
    from verifier.media import iter_frames

    faces_cfg = analysers.settings.thresholds["faces"]
    mode = str(faces_cfg.get("scan", "keyframes"))
    fps = float(faces_cfg["sample_fps"])
    if mode == "dense":
        reader = iter_frames(media.path, fps, info=media)
        frames = analyse_frames(reader, analysers.detector)
        return VideoAnalysis(frames, list(reader.errors), "dense",
                             {"frames": len(frames), "dense_frames": len(frames)})
    if mode != "keyframes":
        from verifier.config import ConfigError
        raise ConfigError(f"thresholds.faces.scan must be keyframes or dense, not {mode!r}")
    return _fast_scan(media, analysers, fps,
                      float(faces_cfg.get("scan_max_keyframe_gap_s", 3.0)))


def _light_class(luma: float, settings) -> int:
    media_cfg = settings.thresholds.get("media", {})
    if luma < float(media_cfg.get("dark_luma", 35)):
        return -1
    if luma > float(media_cfg.get("bright_luma", 230)):
        return 1
    return 0


def _signature(ff, settings) -> tuple:
    """What the checks see in one frame: who is identifiable, a third person, the light."""
    return (frozenset(ff.roles), bool(ff.others), _light_class(ff.luma, settings))


def _fast_scan(media, analysers: Analysers, fps: float, max_gap_s: float) -> VideoAnalysis:
    import numpy as np

    from verifier import media as media_mod
    from verifier.faces import assign_roles, observe_frame

    detector, settings = analysers.detector, analysers.settings
    staff_side = detector.thresholds.staff_side
    period = 1.0 / fps
    src_fps = media.video.fps or 25.0
    same_frame = 0.5 / src_fps            # two times this close are the same video frame
    end_s = media.video.start_s + (media.video.duration_s or media.duration_s)

    # 1. keyframes only (demux + intra decode: cheap). Keyframes closer together than
    #    the sample period (short GOPs, intra-only codecs) are observed at most at
    #    sample_fps, so detection never costs more than the dense path.
    reader = media_mod.iter_frames(media.path, keyframes_only=True, info=media)
    keys = []
    for t, frame in reader:
        if keys and t - keys[-1].t < period - same_frame:
            continue
        keys.append(observe_frame(t, frame, detector))
    errors = list(reader.errors)
    # provisional roles on the keyframes alone, to see where something changes
    provisional = assign_roles([_copy(k) for k in keys], staff_side)
    sigs = [_signature(k, settings) for k in provisional]

    # 2. windows (a, b), both ends exclusive, to decode densely
    windows: list[tuple[float, float]] = []
    start = media.video.start_s
    if not keys or keys[0].t - start > max_gap_s:
        windows.append((start - period, keys[0].t if keys else end_s))
    for i in range(len(keys) - 1):
        a, b = keys[i].t, keys[i + 1].t
        if sigs[i] != sigs[i + 1] or b - a > max_gap_s:
            windows.append((a, b))
    if keys and end_s - keys[-1].t > max_gap_s:
        windows.append((keys[-1].t, end_s))

    # 3. decode the windows at sample_fps; windows closer together than the decoder's
    #    seek pre-roll share one ffmpeg run, so no stretch of video is decoded twice
    key_times = np.array([k.t for k in keys]) if keys else np.zeros(0)
    groups: list[list[tuple[float, float]]] = []
    for w in windows:
        if groups and w[0] - groups[-1][-1][1] <= media_mod.PREROLL_S + period:
            groups[-1].append(w)
        else:
            groups.append([w])
    dense = []
    for group in groups:
        g0, g1 = max(0.0, group[0][0]), group[-1][1]
        reader = media_mod.iter_frames(media.path, fps, start_s=g0, duration_s=g1 - g0,
                                       info=media)
        for t, frame in reader:
            if not any(a + same_frame < t < b - same_frame for a, b in group):
                continue                   # between two windows of the group
            if key_times.size and np.min(np.abs(key_times - t)) < same_frame:
                continue                   # a keyframe: observed already
            dense.append(observe_frame(t, frame, detector))
        errors += [e for e in reader.errors if e not in errors]

    observed = sorted(keys + dense, key=lambda f: f.t)
    carried = _carry_forward(observed, fps, start, end_s, max_gap_s)
    frames = assign_roles(observed + carried, staff_side)
    stats = {"frames": len(frames), "keyframes": len(keys), "windows": len(windows),
             "decode_runs": len(groups), "window_frames": len(dense),
             "window_s": round(sum(b - a for a, b in windows), 1), "carried": len(carried)}
    return VideoAnalysis(frames, errors, "keyframes", stats)


def _carry_forward(observed: list, fps: float, start_s: float, end_s: float,
                   max_gap_s: float) -> list:
    """Samples on the sample_fps grid between observations that agree, carried forward
    from the observation before them.

    The checks read ctx.frames as one sample per 1/sample_fps (shares are counts of
    samples), so the fast path keeps that shape: a grid point with no observation
    within half a period gets a copy of the last observation before it. This is the
    fast path's own premise (nothing the checks see changes between two keyframes that
    agree; where they disagree every grid point was decoded). It reaches the start and
    the end of the video only when the first and last observations are at most
    `max_gap_s` from them, as between keyframes (a truncated file stops where its
    frames stop).
    """
    import numpy as np

    from verifier.faces import FrameFaces

    if not observed:
        return []
    times = np.array([f.t for f in observed])
    half = 0.5 / fps
    first = start_s if times[0] - start_s <= max_gap_s else times[0]
    last = end_s if end_s - times[-1] <= max_gap_s else times[-1] + half
    grid = np.arange(np.ceil(first * fps - 1e-6), np.ceil(last * fps - 1e-6)) / fps
    nearest = np.searchsorted(times, grid - half)
    covered = (nearest < len(times)) & (times[np.minimum(nearest, len(times) - 1)] < grid + half)
    out = []
    for g in grid[~covered]:
        src = observed[max(0, int(np.searchsorted(times, g, side="right")) - 1)]
        out.append(FrameFaces(t=round(float(g), 6), width=src.width, faces=src.faces,
                              luma=src.luma))
    return out


def _copy(ff):
    from verifier.faces import FrameFaces
    return FrameFaces(t=ff.t, width=ff.width, faces=ff.faces, luma=ff.luma)
