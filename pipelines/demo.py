"""`make demo`: the nightly batch flow over the demo inbox, then the verdicts and reasons.

The recordings are verified and stored in the store (default ./dualrec-data) exactly as
`dualrec batch samples/demo` does; a second `make demo` finds them stored and skips
them. With an expectations file ({recording_id: {"verdict": ..., "failed_checks": [...]}})
the run also says whether each verdict is the expected one and exits 1 if not.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from pipelines.prefect_env import configure_prefect, embedded_server
from verifier.config import load_settings


def _failed_checks(store, recording_id: str) -> tuple[list[str], list[str]]:
    from storage.query import current_run, get_recording
    from verifier.report import reasons

    with store.session() as s:
        report = current_run(s, get_recording(s, recording_id)).report_json
    return ([c["id"] for c in report["checks"] if c["status"] in ("fail", "error")],
            reasons(report))


def main(folder: str, expected_file: str | None = None) -> int:
    settings = load_settings()
    configure_prefect(settings.data_dir)
    with embedded_server():
        from pipelines.flows import nightly_batch
        # The sample inbox is committed files, not a copy in progress: no age to wait for.
        out = nightly_batch(folder, min_age_s=0)
    from storage.db import open_store

    expected = {}
    if expected_file:
        expected = json.loads(Path(expected_file).read_text(encoding="utf-8"))
    rows, mismatches = [], 0
    with open_store(settings) as store:
        for item in out["recordings"]:
            rid, verdict = item["recording_id"], item["verdict"]
            failed, why = (_failed_checks(store, rid) if rid else ([], [item["reason"]]))
            note = ""
            if rid in expected:
                want = expected[rid]
                ok = verdict == want["verdict"] and sorted(failed) == sorted(want["failed_checks"])
                mismatches += not ok
                note = "as expected" if ok else f"EXPECTED {want['verdict']} {want['failed_checks']}"
            rows.append((rid or item["path"], verdict, item["outcome"], why, note))
    missing = sorted(set(expected) - {r[0] for r in rows})
    mismatches += len(missing)

    width = max((len(r[0]) for r in rows), default=10)
    print(f"{'recording':<{width}}  {'verdict':<7}  {'this run':<10}  reasons")
    for rid, verdict, outcome, why, note in rows:
        first, *rest = why or ["all checks passed"]
        print(f"{rid:<{width}}  {verdict:<7}  {outcome:<10}  {first}")
        for line in rest:
            print(f"{'':<{width}}  {'':<7}  {'':<10}  {line}")
        if note:
            print(f"{'':<{width}}  {'':<7}  {'':<10}  [{note}]")
    for rid in missing:
        print(f"{rid}: EXPECTED in the inbox, not found")
    print(f"\nstored in {Path(settings.data_dir).resolve()}; batch summary: {out['summary']}")
    if expected:
        matched = sum(1 for r in rows if r[4] == "as expected")
        print(f"{matched}/{len(expected)} verdicts as expected")
    return 1 if mismatches else 0


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", nargs="?", default="samples/demo")
    parser.add_argument("--expected", help="expected verdicts (JSON)")
    args = parser.parse_args()
    sys.exit(main(args.folder, args.expected))
