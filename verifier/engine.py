"""Verify one recording: load its sidecar and ruleset, analyse picture and sound once,
run every check, and decide the verdict. Bad input never raises: it becomes a report
with verdict `error` and a message naming the problem."""
from __future__ import annotations

import logging
from dataclasses import dataclass
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
    except SidecarError as exc:
        return _error_report(recording_id, sha, "metadata.sidecar", str(exc), engine)
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
    from verifier.faces import analyse_frames
    from verifier.media import MediaError, iter_frames, probe

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
        fps = float(ctx.threshold("faces", "sample_fps"))
        try:
            reader = iter_frames(media_path, fps)
            ctx.frames = analyse_frames(reader, analysers.detector)
            ctx.decode_errors = list(reader.errors)
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
