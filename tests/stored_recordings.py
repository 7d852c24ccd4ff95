"""Recordings the store accepts without running any model: a media file (random bytes
unless given), its sidecar and a report of the CONTRACT section 4 shape. Used by the
`make_recording` fixture (tests/conftest.py) and the console's tests."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

VERDICTS = ("pass", "fail", "review", "error")


def make_stored_recording(folder: Path, recording_id: str, transcript=(), verdict: str = "pass",
                          ruleset_version: str = "2026.11", media_bytes: bytes | None = None,
                          audio_bytes: bytes | None = None, checks: list[dict] | None = None,
                          **overrides):
    """-> (media, sidecar, report, sidecar dict); the report's metadata is deliberately
    NOT masked (ingest must scrub it)."""
    from samples.make_samples import sidecar_dict

    if verdict not in VERDICTS:
        raise KeyError(verdict)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    media = folder / f"{recording_id}.mp4"
    media.write_bytes(media_bytes if media_bytes is not None else os.urandom(4096))
    if audio_bytes is not None:
        (folder / f"{recording_id}.wav").write_bytes(audio_bytes)
        overrides.setdefault("audio_file", f"{recording_id}.wav")
    meta = sidecar_dict(recording_id, **overrides)
    sidecar = folder / f"{recording_id}.json"
    sidecar.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    report = {
        "schema": "dualrec.report/1",
        "recording_id": recording_id,
        "sha256": hashlib.sha256(media.read_bytes()).hexdigest(),
        "duration_s": 60.0,
        "verdict": verdict,
        "error": None,
        "checks": checks if checks is not None else [
            {"id": "media.readable", "status": "pass", "severity": "critical",
             "message": "video and audio decode", "evidence": []},
            {"id": "speech.required", "status": verdict, "severity": "critical",
             "message": f"required phrases: {verdict}",
             "evidence": [{"start_s": 1.0, "end_s": 2.0, "detail": "heard"}],
             "items": [{"id": "not-deposit", "found": verdict == "pass",
                        "start_s": 1.0, "end_s": 2.0, "heard": "理财非存款", "score": 0.9}]},
        ],
        "transcript": [{"start_s": a, "end_s": b, "speaker": spk, "text": text}
                       for a, b, spk, text in transcript],
        "ruleset": {"id": "wealth-standard", "version": ruleset_version},
        "engine": {"version": "0.1.0", "asr_model": "whisper-base-offline",
                   "face_detector": "yunet-2023mar"},
        "metadata": dict(meta),
    }
    return media, sidecar, report, meta
