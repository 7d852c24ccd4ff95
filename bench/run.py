"""`make bench` (``python -m bench.run``): how fast and how lean is `dualrec verify`?

Generates (once, cached in ``bench/.cache/``) a 10-minute 1280x720 25 fps H.264
recording with sound: the sample booth scene (``samples.scene``) with the customer
leaving for 30 s half-way, and real Mandarin speech (the AISHELL-1 clips in
``../shared/media/speech``) looped with pauses. Then, in the same run, measures:

* full decode: ``ffmpeg -i FILE -f null -`` (every video frame and all audio);
* ASR only: the project's Transcriber over the audio track (chunked, as verify does);
* face scan: the configured frame analysis (``faces.scan``; keyframes first, dense
  windows only where something changes), and optionally the dense path (``--dense``);
* end to end: ``dualrec verify FILE --json`` as a subprocess (model loading included);
* peak memory (max RSS) of every phase, each in its own process (``os.wait4``), and of
  verify on a 2.5-minute cut of the same file, to show memory does not grow with length.

Prints a table with the ratios the verification engine issue asks for: end-to-end and
ASR times as multiples of real time (goal: 10x), (end-to-end - ASR) / ASR (goal < 25%),
and the fast scan against a full decode.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("DUALREC_BENCH_CACHE", REPO / "bench" / ".cache"))
SPEECH = REPO.parent / "shared" / "media" / "speech"
RATE = 16000

# What the generated recording looks like; a change here regenerates it.
SPEC = {"duration_s": 600.0, "width": 1280, "height": 720, "fps": 25, "gop": 50, "crf": 28,
        "customer_absent": [[270.0, 300.0]], "clips": "aishell-loop", "version": 1}


# --------------------------------------------------------------------------- generate

def _clips() -> list[np.ndarray]:
    out = []
    for path in sorted(SPEECH.glob("*.wav")):
        with wave.open(str(path)) as w:
            if w.getframerate() != RATE or w.getnchannels() != 1 or w.getsampwidth() != 2:
                continue
            out.append(np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768)
    if not out:
        raise SystemExit(f"no 16 kHz mono speech clips in {SPEECH}")
    return out


def _speech_track(duration_s: float, seed: int = 7) -> np.ndarray:
    """Real speech clips in turn with 0.6-2.0 s pauses, over faint room tone."""
    rng = np.random.default_rng(seed)
    clips = _clips()
    n = int(duration_s * RATE)
    audio = np.zeros(n, np.float32)
    pos, k = int(1.0 * RATE), 0
    while pos < n - RATE:
        clip = clips[k % len(clips)] * rng.uniform(0.8, 1.1)
        end = min(n, pos + len(clip))
        audio[pos:end] = clip[: end - pos]
        pos = end + int(rng.uniform(0.6, 2.0) * RATE)
        k += 1
    noise = np.convolve(rng.normal(0, 1, n), np.ones(8) / 8, mode="same")
    return audio + (noise / noise.std() * 0.002).astype(np.float32)


def recording_path(spec: dict = SPEC) -> Path:
    key = hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:10]
    return CACHE / f"bench-{int(spec['duration_s'])}s-{spec['height']}p-{key}.mp4"


def generate(spec: dict = SPEC) -> Path:
    """The bench recording and its sidecar, made once (a few minutes) and cached."""
    from samples.make_samples import write_sidecar
    from samples.scene import SceneLayout, SceneRenderer

    out = recording_path(spec)
    if out.exists() and out.with_suffix(".json").exists():
        return out
    CACHE.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    print(f"generating {out.name} (once; about 5 minutes) ...", file=sys.stderr, flush=True)
    wav = out.with_suffix(".wav")
    pcm = (np.clip(_speech_track(spec["duration_s"]), -1, 1) * 32767).astype("<i2")
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())
    fps, w_, h_ = spec["fps"], spec["width"], spec["height"]
    n = int(round(spec["duration_s"] * fps))
    scene = SceneRenderer(n, fps, SceneLayout(width=w_, height=h_))
    tmp = out.with_suffix(".tmp.mp4")
    cmd = ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
           "-s", f"{w_}x{h_}", "-r", str(fps), "-i", "pipe:0", "-i", str(wav),
           "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "veryfast",
           "-crf", str(spec["crf"]), "-g", str(spec["gop"]), "-pix_fmt", "yuv420p",
           "-c:a", "aac", "-b:a", "64k", "-movflags", "+faststart", str(tmp)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    absent = spec["customer_absent"]
    for i in range(n):
        t = i / fps
        proc.stdin.write(scene.frame(i, customer_present=not any(a <= t < b for a, b in absent))
                         .tobytes())
    proc.stdin.close()
    if proc.wait() != 0:
        raise SystemExit("ffmpeg failed while generating the bench recording")
    tmp.replace(out)
    wav.unlink()
    write_sidecar(out.with_suffix(".json"), out.stem)
    print(f"generated in {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
    return out


def cut(src: Path, seconds: float) -> Path:
    """The first `seconds` of the bench recording (stream copy) with a sidecar."""
    from samples.make_samples import write_sidecar

    out = src.with_name(f"{src.stem}-first{int(seconds)}s.mp4")
    if not out.exists():
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), "-t", str(seconds),
                        "-c", "copy", "-movflags", "+faststart", str(out)], check=True)
    write_sidecar(out.with_suffix(".json"), out.stem)
    return out


# --------------------------------------------------------------------------- phases
# Each phase runs in its own process so its peak memory can be read with os.wait4.

def phase_asr(media: Path) -> dict:
    from verifier.asr import Transcriber
    from verifier.config import load_settings
    from verifier.media import probe
    from verifier.models import resolve_whisper

    settings = load_settings()
    info = probe(media)
    tr = Transcriber(resolve_whisper(settings), settings)
    tr.model  # load outside the timed part: verify loads it once per run too
    t0 = time.monotonic()
    result = tr.transcribe_file(media, info.audio.duration_s or info.duration_s)
    return {"seconds": time.monotonic() - t0, "segments": len(result.segments)}


def phase_scan(media: Path, mode: str) -> dict:
    from verifier.config import load_settings
    from verifier.engine import Analysers, analyse_video
    from verifier.faces import FaceDetector, FaceThresholds
    from verifier.media import probe
    from verifier.models import resolve_yunet

    settings = load_settings()
    settings.thresholds["faces"]["scan"] = mode
    detector = FaceDetector(resolve_yunet(settings).path, FaceThresholds.from_settings(settings),
                            int(settings.threshold("faces", "analysis_max_width")))
    analysers = Analysers(settings, detector, None, "yunet", "")
    info = probe(media)
    t0 = time.monotonic()
    result = analyse_video(info, analysers)
    secs = time.monotonic() - t0
    both = sum(1 for f in result.frames if len(f.roles) == 2)
    return {"seconds": secs, "frames": len(result.frames), "both_share": both / len(result.frames),
            **result.stats}


def _child(args: list[str]) -> tuple[str, str, int, float, float]:
    """Run a child; return (stdout, stderr, exit status, wall s, peak RSS MiB of the
    child and its descendants)."""
    import tempfile

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(args, stdout=out, stderr=err, cwd=REPO, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return (out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace"),
                proc.returncode, wall, usage.ru_maxrss / 1024)


def _phase(name: str, media: Path, *extra: str) -> dict:
    stdout, stderr, code, wall, rss = _child(
        [sys.executable, "-m", "bench.run", "--phase", name, str(media), *extra])
    if code != 0:
        raise SystemExit(f"bench phase {name} failed:\n{stderr[-3000:]}")
    data = json.loads(stdout.strip().splitlines()[-1])
    data.update(wall=wall, rss_mib=rss)
    return data


def full_decode(media: Path, keyframes_only: bool = False) -> dict:
    skip = ["-skip_frame", "nokey"] if keyframes_only else []
    _, stderr, code, wall, rss = _child(["ffmpeg", "-v", "error", "-nostdin", *skip,
                                         "-i", str(media), "-f", "null", "-"])
    if code != 0:
        raise SystemExit(f"ffmpeg decode failed: {stderr[-2000:]}")
    return {"seconds": wall, "rss_mib": rss}


def verify_run(media: Path) -> dict:
    dualrec = Path(sys.executable).parent / "dualrec"
    stdout, stderr, code, wall, rss = _child([str(dualrec), "verify", str(media), "--json"])
    if code not in (0, 1, 3):
        raise SystemExit(f"dualrec verify failed (exit {code}):\n{stderr[-3000:]}")
    report = json.loads(stdout)
    return {"seconds": wall, "rss_mib": rss, "verdict": report["verdict"],
            "checks": {c["id"]: c["status"] for c in report["checks"]}}


# --------------------------------------------------------------------------- main

def _table(rows: list[tuple[str, str, str]]) -> str:
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    return "\n".join(f"{a:<{w0}}  {b:>{w1}}  {c}" for a, b, c in rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    ap.add_argument("--phase", nargs=2, metavar=("NAME", "MEDIA"), help=argparse.SUPPRESS)
    ap.add_argument("--mode", default="keyframes", help=argparse.SUPPRESS)
    ap.add_argument("--dense", action="store_true",
                    help="also time the dense face path (every sample decoded; slow)")
    ap.add_argument("--no-scaling", action="store_true",
                    help="skip the memory-scaling run on a 2.5-minute cut")
    ap.add_argument("--generate-only", action="store_true")
    args = ap.parse_args(argv)

    if args.phase:
        name, media = args.phase[0], Path(args.phase[1])
        result = phase_asr(media) if name == "asr" else phase_scan(media, args.mode)
        print(json.dumps(result))
        return 0

    media = generate()
    if args.generate_only:
        print(media)
        return 0
    from verifier.media import probe

    info = probe(media)
    dur = info.duration_s
    print(f"bench recording: {media.name}: {dur:.0f} s, {info.video.width}x{info.video.height} "
          f"{info.video.fps:.0f} fps, GOP {SPEC['gop']} frames; {os.cpu_count()} CPUs",
          flush=True)

    dec = full_decode(media)
    print(f"  full decode      {dec['seconds']:7.1f} s", flush=True)
    kdec = full_decode(media, keyframes_only=True)
    print(f"  keyframe decode  {kdec['seconds']:7.1f} s", flush=True)
    scan = _phase("scan", media, "--mode", "keyframes")
    print(f"  face scan (fast) {scan['seconds']:7.1f} s", flush=True)
    dense = _phase("scan", media, "--mode", "dense") if args.dense else None
    if dense:
        print(f"  face scan dense  {dense['seconds']:7.1f} s", flush=True)
    asr = _phase("asr", media)
    print(f"  ASR only         {asr['seconds']:7.1f} s", flush=True)
    e2e = verify_run(media)
    print(f"  verify           {e2e['seconds']:7.1f} s", flush=True)
    short = None
    if not args.no_scaling:
        short_media = cut(media, dur / 4)
        short = verify_run(short_media)
        short["duration_s"] = probe(short_media).duration_s
        short["scan"] = _phase("scan", short_media, "--mode", "keyframes")
        short["asr"] = _phase("asr", short_media)

    beyond = e2e["seconds"] - asr["seconds"]
    rows = [("measure", "value", "note"),
            ("recording", f"{dur:.0f} s", f"{info.video.width}x{info.video.height} "
             f"{info.video.fps:.0f} fps H.264 + AAC"),
            ("full decode (ffmpeg -f null)", f"{dec['seconds']:.1f} s",
             f"{dur / dec['seconds']:.0f}x real time"),
            ("keyframes only decode", f"{kdec['seconds']:.1f} s",
             f"{dur / kdec['seconds']:.0f}x real time (-skip_frame nokey)"),
            ("face scan, fast path", f"{scan['seconds']:.1f} s",
             f"{dur / scan['seconds']:.0f}x real time; {scan['keyframes']} keyframes + "
             f"{scan['window_frames']} frames in {scan['windows']} dense windows "
             f"({scan['window_s']:.0f} s), the rest of the {scan['frames']} samples carried"),
            ]
    if dense:
        rows.append(("face scan, dense path", f"{dense['seconds']:.1f} s",
                     f"{dur / dense['seconds']:.0f}x real time; {dense['frames']} frames"))
    rows += [
        ("ASR only", f"{asr['seconds']:.1f} s", f"{dur / asr['seconds']:.1f}x real time; "
         f"peak RSS {asr['rss_mib']:.0f} MiB"),
        ("verify end to end", f"{e2e['seconds']:.1f} s",
         f"{dur / e2e['seconds']:.1f}x real time (goal 10x); verdict {e2e['verdict']}"),
        ("(end-to-end - ASR) / ASR", f"{beyond / asr['seconds']:.0%}", "goal < 25%"),
        ("fast scan / full decode", f"{scan['seconds'] / dec['seconds']:.0%}",
         "scan = keyframe decode + face detection on every observed frame; "
         "a full decode alone detects nothing"),
        ("verify peak RSS", f"{e2e['rss_mib']:.0f} MiB", f"{dur:.0f} s recording"),
    ]
    if short:
        more = f"{dur - short['duration_s']:.0f} s more"
        rows += [
            ("verify peak RSS, short cut", f"{short['rss_mib']:.0f} MiB",
             f"{short['duration_s']:.0f} s recording ({short['seconds']:.1f} s): "
             f"{e2e['rss_mib'] - short['rss_mib']:+.0f} MiB for {more}"),
            ("face scan peak RSS", f"{scan['rss_mib']:.0f} MiB",
             f"{short['scan']['rss_mib']:.0f} MiB on the short cut: "
             f"{scan['rss_mib'] - short['scan']['rss_mib']:+.0f} MiB for {more}"),
            ("ASR peak RSS", f"{asr['rss_mib']:.0f} MiB",
             f"{short['asr']['rss_mib']:.0f} MiB on the short cut: "
             f"{asr['rss_mib'] - short['asr']['rss_mib']:+.0f} MiB for {more}"),
        ]
    print()
    print(_table(rows))
    (CACHE / "last.json").write_text(json.dumps(
        {"duration_s": dur, "decode": dec, "keyframe_decode": kdec, "scan": scan, "dense": dense, "asr": asr,
         "verify": e2e, "verify_short": short}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
