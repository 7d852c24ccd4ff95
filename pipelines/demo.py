"""`make demo`: verify every recording in a folder and print verdicts and reasons.

With an expectations file ({recording_id: {"verdict": ..., "failed_checks": [...]}}) the
run also says whether each verdict is the expected one and exits 1 if not.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from verifier.config import load_settings
from verifier.engine import Analysers, verify
from verifier.media_files import find_recordings
from verifier.models import ModelError
from verifier.report import reasons


def main(folder: str, expected_file: str | None = None) -> int:
    root = Path(folder)
    settings = load_settings()
    try:
        analysers = Analysers.load(settings)
    except ModelError as exc:
        print(f"dualrec demo: error: {exc}", file=sys.stderr)
        return 2
    expected = {}
    if expected_file:
        expected = json.loads(Path(expected_file).read_text(encoding="utf-8"))
    rows, mismatches = [], 0
    for media in find_recordings(root):
        started = time.monotonic()
        report = verify(media, settings=settings, analysers=analysers).to_dict()
        rid, verdict = report["recording_id"], report["verdict"]
        failed = [c["id"] for c in report["checks"] if c["status"] in ("fail", "error")]
        note = ""
        if rid in expected:
            want = expected[rid]
            ok = verdict == want["verdict"] and sorted(failed) == sorted(want["failed_checks"])
            mismatches += not ok
            note = "as expected" if ok else f"EXPECTED {want['verdict']} {want['failed_checks']}"
        rows.append((rid, verdict, time.monotonic() - started, reasons(report), note))

    width = max((len(r[0]) for r in rows), default=10)
    print(f"{'recording':<{width}}  {'verdict':<7}  {'secs':>5}  reasons")
    for rid, verdict, secs, why, note in rows:
        first, *rest = why or ["all checks passed"]
        print(f"{rid:<{width}}  {verdict:<7}  {secs:5.1f}  {first}")
        for line in rest:
            print(f"{'':<{width}}  {'':<7}  {'':>5}  {line}")
        if note:
            print(f"{'':<{width}}  {'':<7}  {'':>5}  [{note}]")
    if expected:
        print(f"{len(rows) - mismatches}/{len(rows)} verdicts as expected")
    return 1 if mismatches else 0


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", nargs="?", default="samples/demo")
    parser.add_argument("--expected", help="expected verdicts (JSON)")
    args = parser.parse_args()
    sys.exit(main(args.folder, args.expected))
