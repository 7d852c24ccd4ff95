import types

from verifier import checks
from verifier.checks import Context, run_all


def test_every_contract_check_module_has_an_entry_point():
    for cid in checks.check_ids():
        assert cid.split(".")[0] in ("metadata", "media", "face", "speech")


def test_a_crashing_check_becomes_an_error_and_the_rest_still_run(monkeypatch):
    def boom(ctx):
        raise RuntimeError("kaput")

    fake_ok = types.SimpleNamespace(ID="media.zz_ok", SEVERITY="minor", NEEDS=(),
                                    run=lambda ctx: checks.CheckResult("media.zz_ok", "pass",
                                                                       "minor", "fine"))
    fake_bad = types.SimpleNamespace(ID="media.zz_bad", SEVERITY="major", NEEDS=(), run=boom)
    monkeypatch.setattr(checks, "_modules", lambda: [fake_bad, fake_ok])
    results = run_all(Context(settings=None, sidecar=None, ruleset=None))
    assert [(r.id, r.status) for r in results] == [("media.zz_bad", "error"),
                                                   ("media.zz_ok", "pass")]
    assert "kaput" in results[0].message


def test_missing_analysis_skips_or_errors(monkeypatch):
    needs = types.SimpleNamespace(ID="speech.zz", SEVERITY="critical", NEEDS=("transcript",),
                                  run=lambda ctx: None)
    monkeypatch.setattr(checks, "_modules", lambda: [needs])
    ctx = Context(settings=None, sidecar=None, ruleset=None)
    ctx.unavailable["transcript"] = "no audio stream"
    [r] = run_all(ctx)
    assert r.status == "skipped" and "no audio stream" in r.message
    ctx.failed["transcript"] = "speech recognition failed: out of memory"
    [r] = run_all(ctx)
    assert r.status == "error" and "out of memory" in r.message
