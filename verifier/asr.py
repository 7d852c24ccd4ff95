"""Offline speech recognition with faster-whisper, in chunks so memory stays flat.

Settings follow FINDINGS.md: language zh, VAD on, no conditioning on previous text, and
never the required phrases as a prompt or hotwords (that makes the model "hear" them in
noise, a false compliance).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np

from verifier.media import decode_audio
from verifier.models import ResolvedModel
from verifier.transcript import Segment

SAMPLE_RATE = 16000
log = logging.getLogger(__name__)
_MODELS: dict[tuple, object] = {}


def _load(model: ResolvedModel, compute_type: str, cpu_threads: int, cache_dir: str,
          num_workers: int = 1):
    # num_workers: recordings transcribed at once from several threads (the batch's
    # concurrency) each get a worker of their own instead of queueing for one.
    key = (model.path, compute_type, cpu_threads, num_workers)
    if key not in _MODELS:
        import ctranslate2
        from faster_whisper import WhisperModel

        # Temperature fallback samples; a fixed seed keeps reruns identical for audit.
        ctranslate2.set_random_seed(1234)
        local = model.path.startswith("/") or model.path.startswith(".")
        _MODELS[key] = WhisperModel(model.path, device="cpu", compute_type=compute_type,
                                    cpu_threads=cpu_threads, num_workers=num_workers,
                                    download_root=cache_dir,
                                    local_files_only=local)
    return _MODELS[key]


@dataclass
class Transcription:
    segments: list[Segment] = field(default_factory=list)
    # (second, loudness in dBFS) for each whole second of audio, on the recording's clock.
    levels: list[tuple[float, float]] = field(default_factory=list)


def loudness_per_second(audio: np.ndarray, start_s: float) -> list[tuple[float, float]]:
    n = len(audio) // SAMPLE_RATE
    if n == 0:
        return []
    blocks = audio[: n * SAMPLE_RATE].astype(np.float64).reshape(n, SAMPLE_RATE)
    rms = np.sqrt(np.mean(blocks ** 2, axis=1))
    dbfs = 20 * np.log10(np.maximum(rms, 1e-6))
    return [(round(start_s + i, 3), round(float(d), 1)) for i, d in enumerate(dbfs)]


class Transcriber:
    def __init__(self, model: ResolvedModel, settings):
        t = settings.thresholds["speech"]
        self.model_ref = model
        self.language = str(t["language"])
        self.beam_size = int(t["beam_size"])
        self.chunk_s = float(t["chunk_s"])
        self.overlap_s = float(t["chunk_overlap_s"])
        self._args = (settings.models.whisper_compute_type, settings.models.cpu_threads,
                      str(settings.model_cache), settings.models.asr_workers)

    @property
    def model(self):
        return _load(self.model_ref, *self._args)

    def transcribe_array(self, audio, offset_s: float = 0.0, speaker: str = "unknown"
                         ) -> list[Segment]:
        segments, _ = self.model.transcribe(
            audio, language=self.language, beam_size=self.beam_size, vad_filter=True,
            condition_on_previous_text=False, initial_prompt=None, hotwords=None)
        return [Segment(round(s.start + offset_s, 3), round(s.end + offset_s, 3),
                        s.text.strip(), speaker)
                for s in segments if s.text.strip()]

    def transcribe_file(self, path, duration_s: float, *, channel: int | None = None,
                        offset_s: float = 0.0, speaker: str = "unknown") -> Transcription:
        """Transcribe `path` chunk by chunk; times are shifted by `offset_s` (the audio's
        start relative to the video). Loudness is measured on the same decoded audio."""
        step = max(self.chunk_s - self.overlap_s, 1.0)
        result = Transcription()
        out = result.segments
        for i in range(max(1, math.ceil(duration_s / step))):
            start = i * step
            if i and start >= duration_s:
                break
            audio = decode_audio(path, SAMPLE_RATE, channel=channel, start_s=start,
                                 duration_s=self.chunk_s)
            if audio.size == 0:
                continue
            # The overlap's seconds were measured with the previous chunk already.
            skip = math.ceil(result.levels[-1][0] + 1 - (offset_s + start)) if result.levels else 0
            result.levels += loudness_per_second(audio[max(skip, 0) * SAMPLE_RATE:],
                                                 offset_s + start + max(skip, 0))
            last_end = out[-1].end_s if out else -math.inf
            for seg in self.transcribe_array(audio, offset_s + start, speaker):
                # The overlap is transcribed twice; keep the earlier chunk's version.
                if seg.start_s >= last_end - 0.05:
                    out.append(seg)
        return result
