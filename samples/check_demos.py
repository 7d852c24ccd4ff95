"""Check generated demos: what Whisper hears and what YuNet sees.

    python -m samples.check_demos samples/demo --whisper /path/to/whisper-base \
        [--yunet ../shared/models/face_detection_yunet_2023mar.onnx] [--ruleset configs/rulesets/wealth-standard.yaml]

A development aid for the generator, not part of the verifier: it prints each
demo's transcript, whether each required phrase of the ruleset (or an alternative)
is recognisably there (toneless-pinyin fuzzy match, as FINDINGS.md recommends),
forbidden words heard, and the face detections per frame (score, eye distance,
which half of the frame), during and outside the absence intervals recorded in
<demo_dir>-timeline.json.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _norm(text: str) -> str:
    import unicodedata

    try:
        from opencc import OpenCC

        text = OpenCC("t2s").convert(text)
    except ImportError:
        pass
    text = unicodedata.normalize("NFKC", text)
    return re.sub(r"[^\w]|_", "", text)


def _py(text: str) -> str:
    from pypinyin import lazy_pinyin

    return " ".join(lazy_pinyin(text))


def phrase_score(phrase: str, transcript: str) -> float:
    from rapidfuzz import fuzz

    p, t = _py(_norm(phrase)), _py(_norm(transcript))
    if len(t) < 0.8 * len(p):
        return 0.0
    return fuzz.partial_ratio(p, t)


def transcribe(model, path: Path) -> list[tuple[float, float, str]]:
    segs, _ = model.transcribe(str(path), language="zh", vad_filter=True,
                               condition_on_previous_text=False, beam_size=5)
    return [(s.start, s.end, s.text) for s in segs]


def faces_per_frame(path: Path, yunet: Path, step: int = 1):
    import cv2

    cap = cv2.VideoCapture(str(path))
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    fps = cap.get(cv2.CAP_PROP_FPS) or 10.0
    det = cv2.FaceDetectorYN.create(str(yunet), "", (w, h), 0.6)
    det.setInputSize((w, h))
    out = []
    i = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if i % step == 0:
            _, faces = det.detect(frame)
            row = []
            for f in faces if faces is not None else []:
                cx = f[0] + f[2] / 2
                row.append({"side": "left" if cx < w / 2 else "right", "score": float(f[14]),
                            "eye_px": float(np.hypot(f[6] - f[4], f[7] - f[5])), "cx": float(cx)})
            out.append((i / fps, row))
        i += 1
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("demo_dir", type=Path)
    ap.add_argument("--whisper", type=Path, required=False)
    ap.add_argument("--yunet", type=Path, default=ROOT.parent / "shared/models/face_detection_yunet_2023mar.onnx")
    ap.add_argument("--ruleset", type=Path, default=ROOT / "configs/rulesets/wealth-standard.yaml")
    ap.add_argument("--threshold", type=float, default=75.0)
    args = ap.parse_args(argv)

    import yaml

    rules = yaml.safe_load(args.ruleset.read_text(encoding="utf-8"))
    required = [r for st in rules["stages"] for r in st.get("required", [])]
    forbidden = rules.get("forbidden", [])
    from samples.make_samples import timeline_path

    tl_file = timeline_path(args.demo_dir)
    timeline = json.loads(tl_file.read_text(encoding="utf-8")) if tl_file.exists() else {}

    model = None
    if args.whisper:
        from faster_whisper import WhisperModel

        model = WhisperModel(str(args.whisper), device="cpu", compute_type="int8", local_files_only=True)

    for mp4 in sorted(args.demo_dir.glob("*.mp4")):
        name = mp4.stem
        info = timeline.get(name, {})
        print(f"== {name}  ({mp4.stat().st_size / 1e6:.2f} MB, {info.get('duration_s')} s)")
        if model is not None:
            segs = transcribe(model, mp4)
            text = "".join(s[2] for s in segs)
            for s in segs:
                print(f"   [{s[0]:6.1f}-{s[1]:6.1f}] {_norm(s[2])}")
            for r in required:
                cands = [r["text"], *r.get("alternatives", [])]
                best = max(((phrase_score(c, text), c) for c in cands), key=lambda x: x[0])
                mark = "found" if best[0] >= args.threshold else "MISSING"
                print(f"   {r['id']:24s} {mark:7s} {best[0]:5.1f}  ({best[1]})")
            norm = _norm(text)
            hits = [f for f in forbidden if f in norm]
            print(f"   forbidden substrings heard (before negation handling): {hits}")
        frames = faces_per_frame(mp4, args.yunet)
        absent = [tuple(iv) for iv in info.get("customer_absent", [])]

        def is_absent(t: float) -> bool:
            return any(a <= t < b for a, b in absent)

        pres = [(t, r) for t, r in frames if not is_absent(t)]
        ok = [
            any(f["side"] == "left" and f["score"] > 0.8 and f["eye_px"] >= 30 for f in r)
            and any(f["side"] == "right" and f["score"] > 0.8 and f["eye_px"] >= 30 for f in r)
            and len(r) == 2
            for t, r in pres
        ]
        stats = {}
        for side in ("left", "right"):
            sc = [f["score"] for _, r in frames for f in r if f["side"] == side]
            ed = [f["eye_px"] for _, r in frames for f in r if f["side"] == side]
            if sc:
                stats[side] = f"score {min(sc):.3f}-{max(sc):.3f}, eye {min(ed):.1f}-{max(ed):.1f} px, n={len(sc)}"
        print(f"   frames {len(frames)}; both faces ok in {sum(ok)}/{len(pres)} frames where both should be present")
        for side, s in stats.items():
            print(f"   {side:5s}: {s}")
        if absent:
            gone = [(t, r) for t, r in frames if is_absent(t)]
            right_seen = sum(any(f["side"] == "right" for f in r) for _, r in gone)
            left_ok = sum(any(f["side"] == "left" and f["score"] > 0.8 for f in r) for _, r in gone)
            print(f"   customer absent {absent}: {len(gone)} frames, right face seen in {right_seen}, staff ok in {left_ok}")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
