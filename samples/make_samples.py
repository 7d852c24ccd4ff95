"""Generate small, realistic demo 双录 recordings (mp4 + sidecar JSON).

    python -m samples.make_samples --out samples/demo

makes the four demos described in samples/README.md. The building blocks are
reusable from tests:

    from samples.make_samples import make_recording, write_sidecar
    info = make_recording(tmp / "r.mp4", [("staff", "理财非存款，产品有风险，投资须谨慎。"),
                                          ("customer", "好的。")],
                          customer_absent=[(1.0, 3.0)])
    info["lines"][0]["start_s"], info["lines"][0]["end_s"]
    write_sidecar(tmp / "r.json", "r", product_risk_level="R4")
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import shutil
import subprocess
import sys
import tempfile
import wave
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from samples import tts
from samples.scene import SceneLayout, SceneRenderer

AUDIO_RATE = tts.OUT_RATE
CST = timezone(timedelta(hours=8))

Interval = tuple[float, float]


# --------------------------------------------------------------------------- audio


def _read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2 and w.getframerate() == AUDIO_RATE
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768.0


def _write_wav(path: Path, audio: np.ndarray) -> None:
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(AUDIO_RATE)
        w.writeframes(pcm.tobytes())


def _write_wav_channels(path: Path, audio: np.ndarray) -> None:
    """(samples, channels) float audio as interleaved 16-bit PCM."""
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(audio.shape[1])
        w.setsampwidth(2)
        w.setframerate(AUDIO_RATE)
        w.writeframes(np.ascontiguousarray(pcm).tobytes())


def _room_tone(n: int, seed: int, level: float) -> np.ndarray:
    """Faint low-passed noise, so silence sounds like a quiet room, not digital zero."""
    rng = np.random.default_rng(seed)
    white = rng.normal(0.0, 1.0, n).astype(np.float32)
    k = np.ones(8, np.float32) / 8.0
    tone = np.convolve(white, k, mode="same")
    return tone / (np.std(tone) + 1e-9) * level


def _tts_cached(text: str, voice: str, cache: Path, engine: str) -> Path:
    key = hashlib.sha1(f"{engine}|{voice}|{text}".encode()).hexdigest()[:16]
    out = cache / f"{voice}-{key}.wav"
    if not out.exists():
        tmp = out.with_suffix(".tmp.wav")
        tts.synthesize(text, tmp, voice, engine=engine)  # type: ignore[arg-type]
        tmp.replace(out)
    return out


def _noise(n: int, seed: int, dbfs: float) -> np.ndarray:
    """Branch-lobby background: pink (1/f) noise with a slow swell, at `dbfs` RMS."""
    rng = np.random.default_rng(seed)
    spec = np.fft.rfft(rng.normal(0.0, 1.0, n))
    f = np.fft.rfftfreq(n, 1.0 / AUDIO_RATE)
    spec /= np.sqrt(np.maximum(f, 20.0))
    pink = np.fft.irfft(spec, n)
    t = np.arange(n) / AUDIO_RATE
    pink *= 1.0 + 0.3 * np.sin(2 * np.pi * t / 7.3 + rng.uniform(0, 2 * np.pi))
    pink = pink / (np.sqrt(np.mean(pink ** 2)) + 1e-12) * 10 ** (dbfs / 20.0)
    return pink.astype(np.float32)


def _speech_clips(lines: Sequence[tuple[str, str]], cache: Path, engine: str, pause_s: float,
                  lead_in_s: float, extra_pause: dict[int, float] | None
                  ) -> tuple[list[tuple[int, np.ndarray]], list[dict], int]:
    """Each line's speech and the sample it starts at; the timing; the end sample."""
    extra_pause = extra_pause or {}
    pos = int(lead_in_s * AUDIO_RATE)
    clips, timing = [], []
    for i, (spk, text) in enumerate(lines):
        if i:
            pos += int(pause_s * AUDIO_RATE)
        pos += int(extra_pause.get(i, 0.0) * AUDIO_RATE)
        speech = _read_wav(_tts_cached(text, spk, cache, engine))
        if spk == "customer":
            speech = speech * 0.9  # the customer sits further from the microphone
        timing.append({"index": i, "speaker": spk, "text": text,
                       "start_s": round(pos / AUDIO_RATE, 3),
                       "end_s": round((pos + len(speech)) / AUDIO_RATE, 3)})
        clips.append((pos, speech))
        pos += len(speech)
    return clips, timing, pos


def _check_lines(lines: Sequence[tuple[str, str]]) -> None:
    for spk, _ in lines:
        if spk not in ("staff", "customer"):
            raise ValueError(f"speaker must be 'staff' or 'customer', not {spk!r}")


def line_times(lines: Sequence[tuple[str, str]], *, pause_s: float = 0.6, lead_in_s: float = 1.0,
               extra_pause: dict[int, float] | None = None, cache_dir: Path | None = None,
               engine: str = "auto") -> list[dict]:
    """When each line will be said in ``make_recording`` with the same arguments (on the
    audio's clock), without rendering anything: for placing scene events on lines."""
    _check_lines(lines)
    with tempfile.TemporaryDirectory(prefix="dualrec-sample-") as tmpd:
        cache = Path(cache_dir) if cache_dir else Path(tmpd)
        cache.mkdir(parents=True, exist_ok=True)
        return _speech_clips(lines, cache, engine, pause_s, lead_in_s, extra_pause)[1]


# --------------------------------------------------------------------------- video


def _in_any(t: float, intervals: Iterable[Interval]) -> bool:
    return any(a <= t < b for a, b in intervals)


def _light_at(t: float, light: float, changes: Sequence[tuple[float, float, float]]) -> float:
    for a, b, level in changes:
        if a <= t < b:
            return level
    return light


def make_recording(
    out_mp4: Path,
    lines: Sequence[tuple[str, str]],
    *,
    customer_absent: Sequence[Interval] = (),
    staff_absent: Sequence[Interval] = (),
    width: int = 640,
    height: int = 360,
    fps: int = 10,
    pause_s: float = 0.6,
    lead_in_s: float = 1.0,
    tail_s: float = 1.5,
    seed: int = 20261121,
    osd_start: datetime | None = None,
    osd_label: str = "BR001 CAM1",
    room_tone: float = 0.002,
    engine: str = "auto",
    cache_dir: Path | None = None,
    crf: int = 30,
    layout: SceneLayout | None = None,
    third_present: Sequence[Interval] = (),
    light: float = 1.0,
    light_changes: Sequence[tuple[float, float, float]] = (),
    extra_pause: dict[int, float] | None = None,
    noise_dbfs: float | None = None,
    gain_db: float = 0.0,
    stereo_bleed: float | None = None,
    audio_out: Path | None = None,
    audio_offset_s: float = 0.0,
    video_extra_s: float = 0.0,
) -> dict:
    """Render a 双录 recording: speech for each line, both people on screen.

    ``lines``: ``(speaker, text)`` with speaker ``"staff"`` or ``"customer"``; they are
    spoken one after another, ``pause_s`` apart (plus ``extra_pause[i]`` seconds before
    line i), after ``lead_in_s`` of room tone and followed by ``tail_s``.
    ``customer_absent`` / ``staff_absent``: ``(start_s, end_s)`` intervals during which
    that person is out of the frame (an empty chair shows); ``third_present``: intervals
    with a third person standing between them. ``light``: the room's brightness
    (1.0 as lit), ``light_changes``: ``(start_s, end_s, light)`` stretches lit otherwise.
    ``layout``: the people's sizes and places (default ``SceneLayout(width, height)``).
    ``osd_start``: burn a camera date/time overlay starting at this time.
    ``cache_dir``: keep synthesised lines between calls (default: a temp dir).

    Sound: ``noise_dbfs`` adds branch-lobby background noise at that RMS level;
    ``gain_db`` scales the whole mix; ``stereo_bleed``: two microphones, the seller on
    channel 0 and the customer on channel 1, each hearing the other at this gain
    (e.g. 0.05), instead of one mono microphone. ``audio_out``: the sound goes to this
    separate file (format by its suffix) and the video has none; the sound starts
    ``audio_offset_s`` into the video. ``video_extra_s``: the picture goes on this
    much longer than the sound.

    Returns ``{"path", "duration_s", "width", "height", "fps", "n_frames", "tts_engine",
    "lines": [{"index", "speaker", "text", "start_s", "end_s"}], "customer_absent",
    "staff_absent"}`` (plus ``"audio_path"``, ``"audio_offset_s"`` with ``audio_out``);
    times are seconds from the start of the video.
    """
    out_mp4 = Path(out_mp4)
    out_mp4.parent.mkdir(parents=True, exist_ok=True)
    if not shutil.which("ffmpeg"):
        raise RuntimeError("ffmpeg is required")
    _check_lines(lines)
    offset = float(audio_offset_s) if audio_out is not None else 0.0
    if offset < 0:
        raise ValueError("audio_offset_s must be >= 0 (the sound starts after the video)")

    with tempfile.TemporaryDirectory(prefix="dualrec-sample-") as tmpd:
        tmp = Path(tmpd)
        cache = Path(cache_dir) if cache_dir else tmp / "tts"
        cache.mkdir(parents=True, exist_ok=True)

        # 1. audio: lead-in, lines separated by pauses, tail; room tone underneath
        clips, timing, end = _speech_clips(lines, cache, engine, pause_s, lead_in_s, extra_pause)
        n = end + int(tail_s * AUDIO_RATE)
        tracks = {"staff": np.zeros(n, np.float32), "customer": np.zeros(n, np.float32)}
        for (pos, speech), line in zip(clips, timing):
            tracks[line["speaker"]][pos:pos + len(speech)] += speech
        if stereo_bleed is None:
            channels = [tracks["staff"] + tracks["customer"]]
        else:
            channels = [tracks["staff"] + np.float32(stereo_bleed) * tracks["customer"],
                        tracks["customer"] + np.float32(stereo_bleed) * tracks["staff"]]
        for k in range(len(channels)):
            channels[k] = channels[k] + _room_tone(n, seed + k, room_tone)
            if noise_dbfs is not None:
                channels[k] = channels[k] + _noise(n, seed + 100 + k, noise_dbfs)
            if gain_db:
                channels[k] = channels[k] * np.float32(10 ** (gain_db / 20.0))
        wav = tmp / "audio.wav"
        if len(channels) == 1:
            _write_wav(wav, channels[0])
        else:
            _write_wav_channels(wav, np.stack(channels, axis=1))
        duration = n / AUDIO_RATE
        if offset:
            for line in timing:
                line["start_s"] = round(line["start_s"] + offset, 3)
                line["end_s"] = round(line["end_s"] + offset, 3)
        video_s = offset + duration + video_extra_s

        ac = str(len(channels))
        bitexact = ["-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact"]
        if audio_out is not None:
            audio_out = Path(audio_out)
            audio_out.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-i", str(wav), "-ac", ac,
                            "-ar", str(AUDIO_RATE), "-map_metadata", "-1", *bitexact,
                            str(audio_out)], check=True, capture_output=True)

        # 2. video frames piped to ffmpeg, muxed with the audio
        n_frames = int(math.ceil(video_s * fps))
        renderer = SceneRenderer(n_frames, fps, layout or SceneLayout(width=width, height=height),
                                 seed=seed, osd_start=osd_start, osd_label=osd_label)
        cmd = [
            "ffmpeg", "-y", "-loglevel", "error",
            "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{width}x{height}", "-r", str(fps), "-i", "-",
        ]
        if audio_out is None:
            cmd += ["-i", str(wav), "-map", "0:v", "-map", "1:a"]
        else:
            cmd += ["-map", "0:v"]
        cmd += [
            "-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf), "-g", str(2 * fps),
            "-pix_fmt", "yuv420p",
        ]
        if audio_out is None:
            cmd += ["-c:a", "aac", "-b:a", "48k" if ac == "1" else "96k", "-ac", ac,
                    "-ar", str(AUDIO_RATE)]
        cmd += ["-map_metadata", "-1", *bitexact, "-movflags", "+faststart", str(out_mp4)]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdin is not None
        try:
            for i in range(n_frames):
                t = i / fps
                frame = renderer.frame(i, staff_present=not _in_any(t, staff_absent),
                                       customer_present=not _in_any(t, customer_absent),
                                       third_present=_in_any(t, third_present),
                                       light=_light_at(t, light, light_changes))
                proc.stdin.write(frame.tobytes())
            proc.stdin.close()
        except BrokenPipeError:
            pass
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if proc.wait() != 0:
            raise RuntimeError(f"ffmpeg failed: {err.strip()}")

    info = {
        "path": str(out_mp4),
        "duration_s": round(video_s if audio_out is not None or video_extra_s else duration, 3),
        "width": width,
        "height": height,
        "fps": fps,
        "n_frames": n_frames,
        "tts_engine": tts.engine_name() if engine != "espeak" else "espeak-ng cmn-latn-pinyin",
        "lines": timing,
        "customer_absent": [list(map(float, iv)) for iv in customer_absent],
        "staff_absent": [list(map(float, iv)) for iv in staff_absent],
    }
    if audio_out is not None:
        info["audio_path"] = str(audio_out)
        info["audio_offset_s"] = offset
    return info


# --------------------------------------------------------------------------- sidecar


def fake_id_number(area: str = "110105", birth: str = "19850312", seq: str = "472") -> str:
    """An 18-character PRC resident ID number with a valid GB 11643 check digit (fake)."""
    body = area + birth + seq
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    check = "10X98765432"[sum(int(c) * w for c, w in zip(body, weights)) % 11]
    return body + check


def sidecar_dict(recording_id: str, **overrides) -> dict:
    """CONTRACT.md section 1 fields with realistic default values, then ``overrides``.

    An override of ``None`` for an optional field (``customer_name``, ``audio_file``,
    ``audio_offset_s``, ``audio_channels``, ``ruleset``) leaves the field out;
    ``maturity_date=None`` writes null (open-ended product).
    """
    meta = {
        "recording_id": recording_id,
        "branch_id": "BR001",
        "staff_id": "S1024",
        "customer_id": fake_id_number(),
        "customer_name": "李晓梅",
        "product_code": "WM2026-180R3",
        "product_name": "鑫享180天封闭式理财产品",
        "product_category": "wealth",
        "product_risk_level": "R3",
        "customer_risk_level": "C3",
        "sale_time": "2026-11-21T10:35:00+08:00",
        "maturity_date": "2027-05-20",
    }
    optional = {"customer_name", "audio_file", "audio_offset_s", "audio_channels", "ruleset"}
    for k, v in overrides.items():
        if isinstance(v, datetime):
            v = v.isoformat(timespec="seconds")
        if v is None and k in optional:
            meta.pop(k, None)
        else:
            meta[k] = v
    return meta


def write_sidecar(out_json: Path, recording_id: str, **overrides) -> dict:
    """Write the sidecar JSON (CONTRACT.md section 1) and return what was written."""
    meta = sidecar_dict(recording_id, **overrides)
    out_json = Path(out_json)
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return meta


# --------------------------------------------------------------------------- scripts

# The wealth-standard script (configs/rulesets/wealth-standard.yaml), stage by stage.
INTRO = [
    ("staff", "您好，我是本行理财经理王芳，这是我的工作证。"),
    ("staff", "请您出示一下身份证。"),
    ("customer", "好的，给您。"),
]
RISK_MATCH = [
    ("staff", "您的风险承受能力评估结果为稳健型，C3级。"),
    ("staff", "本产品风险等级为R3级，属于中等风险，与您的风险承受能力相匹配。"),
    ("staff", "产品期限一百八十天。"),
]
NOT_DEPOSIT = ("staff", "理财非存款，产品有风险，投资须谨慎。")
DISCLOSURE_REST = [
    ("staff", "本产品为非保本浮动收益型理财产品，不保证本金和收益。"),
    ("staff", "业绩比较基准不代表实际收益。"),
]
RIGHTS = [
    ("staff", "封闭期内不可提前赎回。"),
    ("staff", "本金及收益风险由投资者自行承担。"),
]
CONFIRM = [
    ("staff", "您是否已经阅读并理解产品说明书和风险揭示书？"),
    ("customer", "是的，我已经阅读并理解。"),
    ("staff", "您是否确认自愿购买本产品并承担投资风险？"),
    ("customer", "是的，我确认购买。"),
    ("staff", "好的，请您签字确认。"),
]
FORBIDDEN_PROMISE = ("staff", "您放心，这款产品保本保息，稳赚不赔。")

COMPLIANT = INTRO + RISK_MATCH + [NOT_DEPOSIT] + DISCLOSURE_REST + RIGHTS + CONFIRM


def demo_scripts() -> dict[str, list[tuple[str, str]]]:
    forbidden = INTRO + RISK_MATCH + [FORBIDDEN_PROMISE, NOT_DEPOSIT] + DISCLOSURE_REST + RIGHTS + CONFIRM
    missing = INTRO + RISK_MATCH + DISCLOSURE_REST + RIGHTS + CONFIRM
    return {
        "demo-compliant": list(COMPLIANT),
        "demo-customer-left": list(COMPLIANT),
        "demo-forbidden-promise": forbidden,
        "demo-missing-disclosure": missing,
    }


# Camera clock start of each demo (the sale is signed a minute after the recording ends).
_DEMO_START = {
    "demo-compliant": datetime(2026, 11, 21, 10, 32, 5, tzinfo=CST),
    "demo-customer-left": datetime(2026, 11, 21, 11, 5, 40, tzinfo=CST),
    "demo-forbidden-promise": datetime(2026, 11, 21, 14, 20, 12, tzinfo=CST),
    "demo-missing-disclosure": datetime(2026, 11, 21, 15, 45, 31, tzinfo=CST),
}
_DEMO_CUSTOMER = {
    "demo-compliant": ("李晓梅", fake_id_number("110105", "19850312", "472")),
    "demo-customer-left": ("张建国", fake_id_number("310104", "19670805", "215")),
    "demo-forbidden-promise": ("陈静", fake_id_number("440106", "19900117", "308")),
    "demo-missing-disclosure": ("刘洋", fake_id_number("510107", "19781129", "631")),
}


def timeline_path(out_dir: Path) -> Path:
    """Where make_demos writes the line timings: beside the folder, not in it, so that
    the folder holds only recordings and sidecars (an inbox for `dualrec batch`)."""
    out_dir = Path(out_dir)
    return out_dir.parent / f"{out_dir.name}-timeline.json"


def make_demos(out_dir: Path, *, cache_dir: Path | None = None, engine: str = "auto") -> dict[str, dict]:
    """Make the four demos in ``out_dir`` and their timings in ``timeline_path(out_dir)``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    scripts = demo_scripts()
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="dualrec-tts-cache-") as tmpd:
        cache = Path(cache_dir) if cache_dir else Path(tmpd)
        absent: list[Interval] = []
        for name, lines in scripts.items():
            if name == "demo-customer-left":
                # the customer leaves for 15 s from just before 理财非存款… is said
                start = next(t for t in results["demo-compliant"]["lines"] if t["text"] == NOT_DEPOSIT[1])["start_s"] - 1.0
                absent = [(round(start, 1), round(start + 15.0, 1))]
            else:
                absent = []
            info = make_recording(out_dir / f"{name}.mp4", lines, customer_absent=absent,
                                  osd_start=_DEMO_START[name], cache_dir=cache, engine=engine)
            sale = _DEMO_START[name] + timedelta(seconds=math.ceil(info["duration_s"]) + 60)
            cname, cid = _DEMO_CUSTOMER[name]
            write_sidecar(out_dir / f"{name}.json", name, sale_time=sale, customer_name=cname, customer_id=cid)
            results[name] = info
            print(f"{name}: {info['duration_s']:.1f} s, {(out_dir / f'{name}.mp4').stat().st_size / 1e6:.2f} MB", file=sys.stderr)
    timeline_path(out_dir).write_text(json.dumps(
        {k: {"duration_s": v["duration_s"], "tts_engine": v["tts_engine"], "customer_absent": v["customer_absent"],
             "staff_absent": v["staff_absent"], "lines": v["lines"]} for k, v in results.items()},
        ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Generate the demo 双录 recordings.")
    ap.add_argument("--out", type=Path, default=Path("samples/demo"))
    ap.add_argument("--cache", type=Path, default=None, help="keep synthesised speech here")
    ap.add_argument("--engine", choices=["auto", "neural", "espeak"], default="auto")
    args = ap.parse_args(argv)
    make_demos(args.out, cache_dir=args.cache, engine=args.engine)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
