"""Retrieval: `dualrec search` and `dualrec show`, JSON shapes per CONTRACT section 3,
Chinese text search with times, and customer data masked everywhere."""
import json

from sqlalchemy import select
from typer.testing import CliRunner

from pipelines.cli import app
from storage.ingest import store_recording
from storage.models import AuditEntry

runner = CliRunner()

CUSTOMER_A = "110101199003071234"
CUSTOMER_B = "32010219850615002X"


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def seed(store, make_recording):
    recs = {
        "S-A1": dict(customer_id=CUSTOMER_A, customer_name="王小明", product_code="WM-180",
                     sale_time="2026-11-03T10:00:00+08:00", transcript=[
                         (0.0, 4.0, "staff", "您好，欢迎来到本行理财专区。"),
                         (12.5, 17.25, "staff", "本产品为非保本浮动收益型理财，不保证本金和收益。"),
                         (30.0, 33.0, "customer", "好的，我已了解，同意购买。")]),
        "S-A2": dict(customer_id=CUSTOMER_A, customer_name="王小明", product_code="WM-365",
                     sale_time="2026-11-20T15:00:00+08:00", verdict="fail", branch_id="BR002",
                     transcript=[(5.0, 9.0, "staff", "这个产品稳赚不赔，跟存款一样。")]),
        "S-B1": dict(customer_id=CUSTOMER_B, customer_name="赵四", product_code="WM-180",
                     staff_id="S2048", sale_time="2026-12-01T09:00:00+08:00", transcript=[
                         (2.0, 6.5, "staff", "理财非存款，产品有风险，投资须谨慎。"),
                         (40.0, 44.0, "staff", "業績比較基準不代表實際收益。")]),  # Traditional
    }
    for rid, kw in recs.items():
        media, sidecar, report = make_recording(rid, **kw)
        store_recording(store, media, sidecar, report, actor="tester")


def search(*args):
    r = cli("search", *args, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def ids(out):
    return [x["recording_id"] for x in out["results"]]


def test_search_by_chinese_text_returns_recording_and_times(store, make_recording):
    seed(store, make_recording)
    out = search("--text", "不保证本金和收益")
    assert ids(out) == ["S-A1"]
    [m] = out["results"][0]["matches"]
    assert (m["start_s"], m["end_s"]) == (12.5, 17.25)
    assert m["text"] == "本产品为非保本浮动收益型理财，不保证本金和收益。"
    # punctuation, Traditional characters and spaces in the query do not matter
    assert ids(search("--text", "理財非存款， 產品有風險")) == ["S-B1"]
    # and Simplified queries find text that was stored in Traditional
    out = search("--text", "业绩比较基准不代表实际收益")
    assert ids(out) == ["S-B1"] and out["results"][0]["matches"][0]["start_s"] == 40.0
    # a two-character query (below the trigram length) still works
    assert sorted(ids(search("--text", "存款"))) == ["S-A2", "S-B1"]
    assert search("--text", "保险合同")["results"] == []


def test_search_filters_and_json_shape(store, make_recording):
    seed(store, make_recording)
    out = search("--customer", CUSTOMER_A)
    assert ids(out) == ["S-A2", "S-A1"]  # newest sale first
    for item in out["results"]:
        assert {"recording_id", "sale_time", "verdict", "matches"} <= set(item)
        assert item["matches"] == []
    assert out["results"][0]["sale_time"] == "2026-11-20T15:00:00+08:00"
    assert ids(search("--customer", CUSTOMER_B.lower())) == ["S-B1"]  # 'x' check digit
    assert ids(search("--product", "WM-180", "--from", "2026-11-01", "--to", "2026-11-30")) \
        == ["S-A1"]
    assert ids(search("--product", "WM-180", "--from", "2026-12-01")) == ["S-B1"]
    assert ids(search("--staff", "S2048")) == ["S-B1"]
    assert ids(search("--branch", "BR002")) == ["S-A2"]
    assert ids(search("--verdict", "fail")) == ["S-A2"]
    assert ids(search("--customer", CUSTOMER_A, "--text", "稳赚不赔")) == ["S-A2"]
    assert ids(search("--customer", CUSTOMER_B, "--text", "稳赚不赔")) == []
    assert ids(search("--customer", "110101199003070000")) == []
    assert cli("search", "--verdict", "maybe").exit_code == 2
    assert cli("search", "--from", "2026-12-01", "--to", "2026-11-01").exit_code == 2
    assert cli("search", "--text", "，。！").exit_code == 2


def test_show_json_shape(store, make_recording):
    seed(store, make_recording)
    cli("hold", "S-A2", "--case", "DISPUTE-1", "--reason", "客户称被承诺保本")
    r = cli("show", "S-A2", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert {"recording_id", "sha256", "verdict", "retention_until", "retention_basis",
            "legal_holds", "media_present", "report"} <= set(out)
    assert out["recording_id"] == "S-A2" and len(out["sha256"]) == 64
    assert out["verdict"] == "fail" and out["media_present"] is True
    assert out["retention_until"] == "2027-11-20"
    assert out["retention_basis"].startswith("payout-plus-6m:")
    [h] = out["legal_holds"]
    assert {"case", "reason", "placed_at", "released_at"} <= set(h)
    assert h["case"] == "DISPUTE-1" and h["released_at"] is None
    assert out["report"]["schema"] == "dualrec.report/1"
    assert out["report"]["transcript"][0]["text"] == "这个产品稳赚不赔，跟存款一样。"
    assert cli("show", "NOPE", "--json").exit_code == 2
    human = cli("show", "S-A2")
    assert human.exit_code == 0 and "DISPUTE-1" in human.stdout and "ACTIVE" in human.stdout


def test_search_sees_only_the_current_run(store, make_recording):
    media, sidecar, report = make_recording("RUNS", transcript=[(1.0, 2.0, "staff", "旧的转写文本")])
    store_recording(store, media, sidecar, report, actor="tester")
    newer = json.loads(json.dumps(report))
    newer["ruleset"]["version"] = "2027.01"
    newer["transcript"] = [{"start_s": 3.0, "end_s": 4.0, "speaker": "staff", "text": "新的转写文本"}]
    store_recording(store, media, sidecar, newer, actor="tester")
    assert ids(search("--text", "旧的转写")) == []
    assert search("--text", "新的转写")["results"][0]["matches"][0]["start_s"] == 3.0


def test_customer_data_is_masked_in_every_output_and_log(store, make_recording):
    seed(store, make_recording)
    outputs = [cli("search", "--customer", CUSTOMER_A, "--json"),
               cli("search", "--customer", CUSTOMER_A),
               cli("search", "--text", "理财"),
               cli("show", "S-A1", "--json"), cli("show", "S-A1"),
               cli("hold", "S-A1", "--case", "C1", "--reason", "dispute"),
               cli("retention", "sweep", "--dry-run", "--json"),
               cli("integrity", "--json"), cli("-v", "show", "S-B1")]
    for r in outputs:
        assert r.exit_code == 0, r.output
        for secret in (CUSTOMER_A, CUSTOMER_B, "王小明", "赵四", CUSTOMER_B.lower()):
            assert secret not in r.stdout and secret not in r.stderr
    shown = json.loads(outputs[3].stdout)
    assert shown["customer_id"] == "1101**********1234" and shown["customer_name"] == "王**"
    assert shown["metadata"]["customer_id"] == "1101**********1234"
    assert search("--customer", CUSTOMER_A)["results"][0]["customer_id"] == "1101**********1234"
    with store.session() as s:
        logged = " ".join(e.details for e in s.scalars(select(AuditEntry)))
        searches = [json.loads(e.details) for e in s.scalars(
            select(AuditEntry).where(AuditEntry.action == "search"))]
    assert CUSTOMER_A not in logged and "王小明" not in logged
    assert searches[0]["criteria"]["customer"] == "1101**********1234"
    assert searches[0]["recording_ids"] == ["S-A2", "S-A1"]


def test_common_phrases_take_the_probing_plan_with_the_same_results(store, make_recording,
                                                                    monkeypatch):
    import storage.query

    seed(store, make_recording)
    expected = {q: search("--text", q) for q in ("理财", "不保证本金和收益", "存款", "保险合同")}
    monkeypatch.setattr(storage.query, "COMMON_MATCHES", 0)  # every phrase is "common"
    for q, out in expected.items():
        assert search("--text", q)["results"] == out["results"], q
    assert ids(search("--text", "稳赚不赔", "--branch", "BR002")) == ["S-A2"]
