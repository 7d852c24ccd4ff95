"""Recordings built in code for tests: the sample booth scene with given audio."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np

from samples.make_samples import sidecar_dict
from samples.scene import SceneRenderer

SPEECH = Path(__file__).resolve().parent.parent.parent / "shared" / "media" / "speech"
# AISHELL-1 clips in ../shared/media/speech (references.tsv has their transcripts).
CLIPS = ["BAC009S0764W0121.wav", "BAC009S0764W0122.wav", "BAC009S0724W0121.wav"]
# A ruleset whose phrases are said in the AISHELL clips (and two that are not).
AISHELL_RULESET = """id: aishell-present
version: "1"
stages:
  - id: first
    required:
      - {id: halt, text: 甚至出现交易几乎停滞的情况, speaker: any}
  - id: second
    required:
      - {id: agency, text: 广州市房地产中介协会分析, speaker: any}
forbidden: [保本, 稳赚不赔]
risk_level: {said: optional}  # news speech: no product risk level is said
"""

# The installed command line of the environment running the tests.
DUALREC = str(Path(sys.executable).parent / "dualrec")

# A whole valid sidecar (CONTRACT section 1) for the sidecar tests to vary.
SIDECAR_CUSTOMER_ID = "110101199003071234"
VALID_SIDECAR = {
    "branch_id": "BR001",
    "staff_id": "S0042",
    "customer_id": SIDECAR_CUSTOMER_ID,
    "customer_name": "张三丰",
    "product_code": "WM2026-001",
    "product_name": "稳健理财1号",
    "product_category": "wealth",
    "product_risk_level": "R3",
    "customer_risk_level": "C4",
    "sale_time": "2026-11-21T10:15:00+08:00",
    "maturity_date": "2027-11-21",
    "audio_file": "BR1.wav",
    "audio_offset_s": -0.25,
    "audio_channels": {"staff": 0, "customer": 1},
    "ruleset": "wealth-standard",
}


def read_wav_16k(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1 and w.getsampwidth() == 2
        return np.frombuffer(w.readframes(w.getnframes()), np.int16)


def write_wav_16k(path: Path, samples: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(samples.astype(np.int16).tobytes())


def aishell_track(out_wav: Path, names: list[str], gap_s: float = 1.0) -> list[tuple[float, float]]:
    """Concatenate AISHELL clips with gaps; returns each clip's (start_s, end_s)."""
    gap = np.zeros(int(gap_s * 16000), np.int16)
    parts, times, t = [gap], [], gap_s
    for name in names:
        clip = read_wav_16k(SPEECH / name)
        times.append((t, t + len(clip) / 16000))
        parts += [clip, gap]
        t += len(clip) / 16000 + gap_s
    write_wav_16k(out_wav, np.concatenate(parts))
    return times


def render_video(out_mp4: Path, audio_wav: Path | None, duration_s: float, *, fps: int = 5,
                 customer_absent=(), staff_absent=(), audio_in_container: bool = True) -> Path:
    """Booth video of `duration_s`, muxed with `audio_wav` unless told otherwise."""
    n = int(round(duration_s * fps))
    scene = SceneRenderer(n, fps)
    cmd = ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
           "-s", f"{scene.lay.width}x{scene.lay.height}", "-r", str(fps), "-i", "pipe:0"]
    if audio_wav is not None and audio_in_container:
        cmd += ["-i", str(audio_wav), "-c:a", "aac", "-b:a", "48k", "-shortest"]
    cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "30", "-pix_fmt", "yuv420p",
            "-g", str(fps * 2), str(out_mp4)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    for i in range(n):
        t = i / fps
        proc.stdin.write(scene.frame(
            i, staff_present=not any(a <= t < b for a, b in staff_absent),
            customer_present=not any(a <= t < b for a, b in customer_absent)).tobytes())
    proc.stdin.close()
    assert proc.wait() == 0
    return out_mp4


def write_sidecar(media: Path, **overrides) -> Path:
    path = media.with_suffix(".json")
    data = sidecar_dict(media.stem, **overrides)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def age_tree(root: Path, seconds: float = 3600.0) -> None:
    """Date every file under `root` back by `seconds`: an inbox copied long before the
    nightly batch (the batch leaves files changed in the last batch.min_age_s)."""
    import os
    import time

    when = time.time() - seconds
    for path in Path(root).rglob("*"):
        if path.is_file() and not path.is_symlink():
            os.utime(path, (when, when))


def batch_env(data: Path, crash_at: str | None = None) -> dict[str, str]:
    """The environment of a `dualrec batch` under test: its own data folder, Prefect's
    embedded server (not one a developer's shell points at), a crash hook if asked."""
    env = dict(os.environ, DUALREC_DATA_DIR=str(data))
    env.pop("PREFECT_API_URL", None)
    env.pop("DUALREC_CRASH_AT", None)
    if crash_at:
        env["DUALREC_CRASH_AT"] = crash_at
    return env


def batches_at_once(inbox: Path, data: Path, n: int, timeout_s: float = 600
                    ) -> list[tuple[int, str, str]]:
    """Start `dualrec batch INBOX --json` `n` times at once on one data folder, each
    with its embedded Prefect server; (exit code, stdout, stderr) of each."""
    env = batch_env(data)
    procs = [subprocess.Popen([DUALREC, "batch", str(inbox), "--json"], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(n)]
    outs = [p.communicate(timeout=timeout_s) for p in procs]
    return [(p.returncode, out, err) for p, (out, err) in zip(procs, outs)]
