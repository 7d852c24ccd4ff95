"""Search latency of the audit store over 100,000 recordings (SQLite).

    .venv/bin/python bench/bench_search.py [--recordings 100000] [--segments 4] [--runs 40]

Generates the rows straight into a fresh store's database (recordings with sale
metadata, one verification run each, transcript segments in Chinese: script phrases
every recording has, plus phrases that only a few have), then times the store's own
search function (`storage.query.search`, the code behind `dualrec search`) for:
by customer (keyed-hash lookup), by product and date range, by spoken text (a rare
phrase, and a phrase every recording contains, first 100), and the same customer search
with its audit-log entry written. Each is reported as median and 95th percentile in
milliseconds and as a ratio to a baseline measured in the same run: fetching one
recording row by its recording_id (a unique-index lookup). Not a test: numbers vary
by machine; the ratios travel better.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select  # noqa: E402

SCRIPT = ["您好，我是本行理财经理，这是我的工作证。",
          "理财非存款，产品有风险，投资须谨慎。",
          "本产品为非保本浮动收益型理财，不保证本金和收益。",
          "业绩比较基准不代表实际收益，过往业绩不代表未来表现。",
          "您的风险承受能力评估结果为稳健型，本产品风险等级为R3。",
          "封闭期内不可提前赎回，本金及收益风险由投资者自行承担。",
          "好的，我已了解，同意购买。"]
RARE = ["客户提到孩子明年出国留学需要用钱", "客户询问能否用于购房首付款", "客户表示曾在他行购买基金亏损",
        "客户要求提供纸质版产品说明书", "客户说这笔钱是养老用的不能亏"]
PRODUCTS = [f"WM2026-{n:03d}" for n in range(200)]
CATEGORIES = ["wealth", "agency_fund", "agency_insurance", "agency_trust"]


def id_number(rng: random.Random) -> str:
    return f"{rng.randint(110000, 659999)}{rng.randint(1950, 2005)}" \
           f"{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 9999):04d}"


def populate(store, n: int, per: int, rng: random.Random) -> tuple[list[str], dict]:
    from storage.models import Recording, TranscriptSegment, VerificationRun
    from verifier.privacy import mask_id
    from verifier.textnorm import normalize

    norm = {t: normalize(t) for t in SCRIPT + RARE}
    customers = [id_number(rng) for _ in range(n // 4)]  # about 4 sales per customer
    keys = {c: store.customer_key(c) for c in customers}
    start = date(2022, 1, 1)
    facts = {"customers": customers, "rare": {}}
    batch = 5000
    with store.engine.begin() as conn:
        for lo in range(0, n, batch):
            recs, runs, segs = [], [], []
            for i in range(lo, min(n, lo + batch)):
                rid = f"BR{i % 300:03d}-{i:07d}"
                cust = customers[i % len(customers)]
                sale = start + timedelta(days=rng.randint(0, 1400))
                sale_time = datetime(sale.year, sale.month, sale.day, 2 + i % 8, 0,
                                     tzinfo=timezone.utc)
                maturity = sale + timedelta(days=rng.choice([90, 180, 365, 730]))
                recs.append(dict(
                    id=i + 1, recording_id=rid, sha256=f"{i:064x}", media_key=f"k/{i}",
                    media_name=f"{rid}.mp4", media_bytes=300_000_000, sidecar_sha256=f"{i:064x}",
                    sidecar_key=f"s/{i}", sidecar_name=f"{rid}.json",
                    sidecar_json={"sale_time": sale_time.isoformat()},
                    branch_id=f"BR{i % 300:03d}", staff_id=f"S{i % 2000:04d}",
                    customer_id=cust, customer_id_masked=mask_id(cust), customer_key=keys[cust],
                    customer_name=None, customer_name_masked=None,
                    product_code=PRODUCTS[i % len(PRODUCTS)], product_name="理财产品",
                    product_category=CATEGORIES[i % len(CATEGORIES)], product_risk_level="R3",
                    customer_risk_level="C3", sale_time=sale_time, sale_date=sale,
                    maturity_date=maturity, redemption_date=None,
                    retention_until=maturity + timedelta(days=183),
                    retention_basis="payout-plus-6m", retention_rules=[], retention_policy="bench",
                    media_present=True, purged_at=None,
                    verdict=rng.choice(["pass", "pass", "pass", "fail", "review"]),
                    current_run_id=None, created_at=sale_time, updated_at=sale_time))
                runs.append(dict(id=i + 1, recording_pk=i + 1, media_sha256=f"{i:064x}",
                                 ruleset_id="wealth-standard", ruleset_version="2026.11",
                                 engine_version="0.1.0", asr_model="bench", face_detector="bench",
                                 verdict=recs[-1]["verdict"], duration_s=600.0,
                                 report_json={}, report_sha256="0" * 64, actor="bench",
                                 created_at=sale_time))
                lines = rng.sample(SCRIPT, per)
                if i % 997 == 0:  # a rare phrase in about 0.1% of the recordings
                    phrase = RARE[(i // 997) % len(RARE)]
                    lines[-1] = phrase
                    facts["rare"].setdefault(phrase, []).append(rid)
                t = 0.0
                for seq, line in enumerate(lines):
                    segs.append(dict(recording_pk=i + 1, run_id=i + 1, seq=seq, start_s=t,
                                     end_s=t + 4.0, speaker="staff", text=line,
                                     text_norm=norm[line]))
                    t += 30.0
            conn.execute(Recording.__table__.insert(), recs)
            conn.execute(VerificationRun.__table__.insert(), runs)
            conn.execute(TranscriptSegment.__table__.insert(), segs)
        conn.exec_driver_sql("UPDATE recordings SET current_run_id = id")
        conn.exec_driver_sql("ANALYZE")
    return customers, facts


def timed(fn, args_list) -> list[float]:
    out = []
    for args in args_list:
        t0 = time.perf_counter()
        fn(*args)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--recordings", type=int, default=100_000)
    ap.add_argument("--segments", type=int, default=4, help="transcript segments per recording")
    ap.add_argument("--runs", type=int, default=40, help="timed runs per query kind")
    ap.add_argument("--keep", action="store_true", help="keep the generated store")
    args = ap.parse_args()

    from storage.db import open_store
    from storage.models import Recording
    from storage.query import Criteria, search
    from verifier.config import load_settings

    root = Path(tempfile.mkdtemp(prefix="dualrec-bench-"))
    os.environ.pop("DUALREC_DB_URL", None)
    settings = load_settings().model_copy(update={"data_dir": root, "db_url": None})
    store = open_store(settings)
    rng = random.Random(20261121)
    t0 = time.perf_counter()
    customers, facts = populate(store, args.recordings, args.segments, rng)
    load_s = time.perf_counter() - t0
    db_mb = (root / "dualrec.db").stat().st_size / 1e6
    print(f"generated {args.recordings:,} recordings, {args.recordings * args.segments:,} "
          f"transcript segments in {load_s:.1f} s; database {db_mb:.0f} MB; "
          f"SQLite FTS5 trigram index: {store.has_fts()}")

    n = args.runs
    ids = [f"BR{i % 300:03d}-{i:07d}" for i in rng.sample(range(args.recordings), n)]

    def by_pk(rid):
        with store.session() as s:
            s.execute(select(Recording.id, Recording.recording_id, Recording.verdict)
                      .where(Recording.recording_id == rid)).one()

    def run(c):
        return search(store, c, actor="bench", log_it=False)

    def run_logged(c):
        return search(store, c, actor="bench", log_it=True)

    # warm up caches (OpenCC dictionaries, statement caches)
    run(Criteria(text="理财非存款"))
    by_pk(ids[0])

    days = [date(2022, 1, 1) + timedelta(days=rng.randint(0, 1300)) for _ in range(n)]
    rare = list(facts["rare"].items())
    cases = {
        "baseline: recording_id lookup": (by_pk, [(r,) for r in ids]),
        "by customer": (run, [(Criteria(customer=rng.choice(customers)),) for _ in range(n)]),
        "by product + 30-day range": (run, [(Criteria(product=rng.choice(PRODUCTS), date_from=d,
                                                      date_to=d + timedelta(days=30)),)
                                            for d in days]),
        "by text, rare phrase (~0.1%)": (run, [(Criteria(text=rare[i % len(rare)][0][2:9]),)
                                               for i in range(n)]),
        "by text, in every recording (first 100)": (
            run, [(Criteria(text=SCRIPT[1 + i % 5][:8]),) for i in range(n)]),
        "by text + branch": (run, [(Criteria(text="不保证本金", branch=f"BR{i % 300:03d}"),)
                                   for i in range(n)]),
        "by customer, audit entry written": (run_logged, [(Criteria(customer=rng.choice(customers)),)
                                                          for _ in range(n)]),
    }
    # sanity: the searches find what was planted
    phrase, planted = rare[0]
    got = [r["recording_id"] for r in run(Criteria(text=phrase, limit=10000))["results"]]
    assert sorted(got) == sorted(planted), (phrase, got, planted)
    cust = customers[7]
    assert all(r["customer_id"].count("*") >= 8
               for r in run(Criteria(customer=cust))["results"])

    results = {}
    for name, (fn, arglist) in cases.items():
        results[name] = timed(fn, arglist)
    base = statistics.median(results["baseline: recording_id lookup"])
    width = max(len(k) for k in results)
    print(f"\n{'query':<{width}}  {'median ms':>9}  {'p95 ms':>8}  {'x baseline':>10}")
    for name, times in results.items():
        times = sorted(times)
        p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
        med = statistics.median(times)
        print(f"{name:<{width}}  {med:9.2f}  {p95:8.2f}  {med / base:10.1f}")
    print(f"\n{n} runs each; Python {sys.version.split()[0]}, SQLite "
          f"{__import__('sqlite3').sqlite_version}; store at {root}"
          + ("" if args.keep else " (removed)"))
    store.close()
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
