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


# Segment times with VAD on: faster-whisper maps a segment that starts (or ends) on
# the boundary between two speech chunks to the far side of the silence between them
# (SYSTRAN/faster-whisper#385), so a question said after 13 s of silence can come back
# as a segment starting 13 s early. The chunk's own loudness puts the edges back.
EDGE_FRAME_S = 0.05
EDGE_ACTIVE_DB = 10.0    # a frame this far above the chunk's noise floor is sound,
EDGE_VOICE_DB = 20.0     # and at most this far below the segment's loud frames (the
                         # other person heard faintly on a two-microphone channel is not
                         # this segment's voice)
EDGE_MIN_SILENCE_S = 1.5 # only silence at least this long is cut off a segment's edge
EDGE_PAD_S = 0.2
# The previous utterance's last syllable (or the next one's first) inside a segment's
# edge: voice touching the edge, this short, then a long silence, is the neighbour's.
EDGE_BLEED_S = 0.5
SPLIT_SILENCE_S = 4.0    # a pause this long inside a segment splits it


def tighten(segments: list[Segment], audio: np.ndarray, start_s: float = 0.0) -> list[Segment]:
    """`segments` (on a clock where `audio` starts at `start_s`) with a long silence at
    either edge cut off. The noise floor is the chunk's 10th percentile of 50 ms frame
    loudness; the segment's voice is three frames in a row `EDGE_ACTIVE_DB` above it and
    within `EDGE_VOICE_DB` of the segment's loud frames (its 90th percentile). A segment
    with no voice at all is left as it is."""
    hop = int(EDGE_FRAME_S * SAMPLE_RATE)
    n = len(audio) // hop
    if n < 3 or not segments:
        return segments
    frames = np.asarray(audio[: n * hop], np.float64).reshape(n, hop)
    db = 20 * np.log10(np.maximum(np.sqrt(np.mean(frames ** 2, axis=1)), 1e-7))
    floor = np.percentile(db, 10) + EDGE_ACTIVE_DB
    out = []
    for seg in segments:
        a = max(0, int((seg.start_s - start_s) / EDGE_FRAME_S))
        b = min(n, int(math.ceil((seg.end_s - start_s) / EDGE_FRAME_S)))
        if b - a < 3:
            out.append(seg)
            continue
        part = db[a:b]
        loud = part > max(floor, np.percentile(part, 90) - EDGE_VOICE_DB)
        steady = np.zeros_like(loud)
        steady[1:-1] = loud[:-2] & loud[1:-1] & loud[2:]
        idx = np.flatnonzero(steady)
        if idx.size == 0:
            out.append(seg)
            continue
        idx = _without_bleed(idx, len(part))
        pieces = _split_at_pauses(seg.text, idx)
        for k, (text, run) in enumerate(pieces):
            first = start_s + (a + run[0] - 1) * EDGE_FRAME_S   # the run's first frame
            last = start_s + (a + run[-1] + 2) * EDGE_FRAME_S   # its last frame's end
            begin = seg.start_s if k == 0 else first - EDGE_PAD_S
            end = seg.end_s if k == len(pieces) - 1 else last + EDGE_PAD_S
            if first - begin >= EDGE_MIN_SILENCE_S:
                begin = first - EDGE_PAD_S
            if end - last >= EDGE_MIN_SILENCE_S:
                end = last + EDGE_PAD_S
            changed = len(pieces) > 1 or (begin, end) != (seg.start_s, seg.end_s)
            out.append(Segment(round(float(begin), 3), round(float(end), 3), text, seg.speaker)
                       if changed else seg)
    return out


def _runs(idx: np.ndarray, silence_s: float) -> list[np.ndarray]:
    """Voiced frames `idx` split where a silence of at least `silence_s` parts them."""
    return np.split(idx, np.flatnonzero(np.diff(idx) >= int(silence_s / EDGE_FRAME_S)) + 1)


def _frames(run: np.ndarray) -> int:
    """The frames a run of voiced-frame centres spans (each centre stands for three)."""
    return int(run[-1] - run[0] + 3)


# Sentence ends and clause breaks whisper writes, where a segment's text may be cut.
_BREAKS = "，。？！、；：,.?!;:"


def _split_at_pauses(text: str, idx: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """A segment's text and voiced frames cut where it holds a pause of at least
    `SPLIT_SILENCE_S`: whisper's VAD joins speech across a long silence into one
    segment (three script lines and a 13 s pause while the seller printed, timed as one
    span), so where in it a line was said is unknown. The text is cut at the clause
    break whose place in the text is nearest the share of voiced time before the
    pause; a text with no break there stays whole (one piece: the whole segment)."""
    runs = _runs(idx, SPLIT_SILENCE_S)
    if len(runs) < 2:
        return [(text, idx)]
    voiced = np.array([_frames(r) for r in runs], float)
    shares = np.cumsum(voiced)[:-1] / voiced.sum()
    breaks = [i + 1 for i, c in enumerate(text[:-1]) if c in _BREAKS]
    cuts, prev = [], 0
    for share in shares:
        options = [i for i in breaks if i > prev]
        if not options:
            return [(text, idx)]
        cut = min(options, key=lambda i: abs(i / len(text) - share))
        cuts.append(cut)
        prev = cut
    bounds = [0, *cuts, len(text)]
    return [(text[x:y], run) for x, y, run in zip(bounds, bounds[1:], runs)]


def _without_bleed(idx: np.ndarray, n: int) -> np.ndarray:
    """The voiced frames `idx` (centres of three loud frames, of a segment's `n`)
    without a short burst touching either edge and cut off from the rest by a long
    silence: whisper began the segment in the previous utterance's last syllable (a
    question asked after 13 s of silence came back starting at the previous line's
    end, the burst keeping the silence in)."""
    runs = _runs(idx, EDGE_MIN_SILENCE_S)
    short = EDGE_BLEED_S / EDGE_FRAME_S

    def burst(run):
        return _frames(run) <= short

    if len(runs) > 1 and runs[0][0] <= 1 and burst(runs[0]):
        runs = runs[1:]
    if len(runs) > 1 and runs[-1][-1] >= n - 2 and burst(runs[-1]):
        runs = runs[:-1]
    return np.concatenate(runs)


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
        raw_end = -math.inf
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
            # The overlap is transcribed twice; keep the earlier chunk's version
            # (compared on whisper's own times, before the edges are tightened).
            kept = [seg for seg in self.transcribe_array(audio, offset_s + start, speaker)
                    if seg.start_s >= raw_end - 0.05]
            if kept:
                raw_end = kept[-1].end_s
            out += tighten(kept, audio, offset_s + start)
        return result
