"""Batch throughput (`python -m bench.bench_batch`, part of `make bench`).

An inbox of N recordings (the four demo recordings, copied under new recording ids
until there are N), run through `dualrec batch` at concurrency 1 and 2, each into a
fresh store, then once more at concurrency 2 over the full store (everything skipped).
Reported in the same run: wall time, recordings per minute, media seconds per wall
second, the speed-up of concurrency 2 over 1, and the embedded Prefect server's
start-up as the fixed cost of one batch (a rerun that only hashes).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "samples" / "demo"


def make_inbox(folder: Path, n: int) -> float:
    """N recordings in `folder`; returns their total media seconds."""
    from verifier.media import probe

    stems = sorted(p.stem for p in DEMO.glob("*.mp4"))
    total = 0.0
    for i in range(n):
        stem = stems[i % len(stems)]
        rid = f"BENCH-{i:03d}-{stem}"
        meta = json.loads((DEMO / f"{stem}.json").read_text(encoding="utf-8"))
        meta.update(recording_id=rid, customer_id=f"11010119900307{i:04d}")
        day = folder / f"day{i % 2}"
        day.mkdir(parents=True, exist_ok=True)
        shutil.copy(DEMO / f"{stem}.mp4", day / f"{rid}.mp4")
        (day / f"{rid}.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        total += probe(DEMO / f"{stem}.mp4").duration_s
    _age(folder)
    return total


def _age(folder: Path, seconds: float = 3600.0) -> None:
    """The inbox was filled during the day: older than the batch's batch.min_age_s."""
    when = time.time() - seconds
    for path in folder.rglob("*"):
        if path.is_file():
            os.utime(path, (when, when))


def run_batch(inbox: Path, data: Path, concurrency: int) -> dict:
    env = dict(os.environ, DUALREC_DATA_DIR=str(data))
    env.pop("PREFECT_API_URL", None)
    dualrec = Path(sys.executable).parent / "dualrec"
    t0 = time.monotonic()
    p = subprocess.run([str(dualrec), "batch", str(inbox), "--json", "-j", str(concurrency)],
                       capture_output=True, text=True, env=env, timeout=3600)
    wall = time.monotonic() - t0
    if p.returncode != 0:
        raise SystemExit(f"dualrec batch -j {concurrency} failed:\n{p.stderr[-3000:]}")
    out = json.loads(p.stdout)
    return {"seconds": wall, "processed": out["processed"], "skipped": out["skipped"],
            "errors": out["errors"], "verdicts": out["verdicts"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.bench_batch", description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=8, help="recordings in the inbox (default 8)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dualrec-bench-batch-") as tmp:
        tmp = Path(tmp)
        media_s = make_inbox(tmp / "inbox", args.n)
        print(f"batch bench: {args.n} recordings, {media_s:.0f} s of media; "
              f"{os.cpu_count()} CPUs", flush=True)
        runs = {}
        for conc in (1, 2):
            runs[conc] = run_batch(tmp / "inbox", tmp / f"data-{conc}", conc)
            print(f"  concurrency {conc}: {runs[conc]['seconds']:.1f} s", flush=True)
        rerun = run_batch(tmp / "inbox", tmp / "data-2", 2)
        print(f"  rerun (all skipped): {rerun['seconds']:.1f} s", flush=True)
    for conc, r in runs.items():
        if r["processed"] != args.n:
            raise SystemExit(f"concurrency {conc}: processed {r['processed']} of {args.n}")
    if rerun["skipped"] != args.n:
        raise SystemExit(f"rerun skipped {rerun['skipped']} of {args.n}")
    if runs[1]["verdicts"] != runs[2]["verdicts"]:
        raise SystemExit(f"verdicts differ between concurrency 1 and 2: "
                         f"{runs[1]['verdicts']} vs {runs[2]['verdicts']}")
    rows = [("measure", "value", "note")]
    for conc, r in runs.items():
        work = r["seconds"] - rerun["seconds"]
        rows.append((f"batch, concurrency {conc}", f"{r['seconds']:.1f} s",
                     f"{args.n / r['seconds'] * 60:.1f} recordings/min; "
                     f"{media_s / r['seconds']:.1f}x real time overall, "
                     f"{media_s / work:.1f}x without the fixed cost"))
    rows += [("concurrency 2 / concurrency 1", f"{runs[1]['seconds'] / runs[2]['seconds']:.2f}x",
              "speed-up on this machine"),
             ("rerun, everything skipped", f"{rerun['seconds']:.1f} s",
              "fixed cost of a batch: embedded Prefect server, store, hashing"),
             ("verdicts", "same", f"at both concurrencies: {json.dumps(runs[2]['verdicts'])}")]
    w0, w1 = (max(len(r[i]) for r in rows) for i in (0, 1))
    print()
    print("\n".join(f"{a:<{w0}}  {b:>{w1}}  {c}" for a, b, c in rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
