import pytest

from verifier.intervals import false_runs
from verifier.report import CheckResult, decide_verdict, fmt_time


def c(status, severity="critical"):
    return CheckResult("x.y", status, severity, "m")


@pytest.mark.parametrize("statuses, verdict", [
    ([("pass", "critical"), ("pass", "major")], "pass"),
    ([("pass", "critical"), ("skipped", "critical")], "pass"),
    ([("fail", "critical"), ("pass", "critical")], "fail"),
    ([("fail", "major"), ("pass", "critical")], "review"),
    ([("review", "critical")], "review"),
    ([("fail", "critical"), ("review", "critical")], "fail"),
    ([("fail", "critical"), ("error", "critical")], "error"),
])
def test_verdict(statuses, verdict):
    assert decide_verdict([c(s, sev) for s, sev in statuses]) == verdict


def test_unknown_status_rejected():
    with pytest.raises(ValueError):
        CheckResult("a.b", "ok", "critical", "m")


def test_items_only_when_given():
    assert "items" not in c("pass").to_dict()
    assert CheckResult("a.b", "pass", "critical", "m", items=[]).to_dict()["items"] == []


def test_fmt_time():
    assert fmt_time(130.4) == "00:02:10"
    assert fmt_time(3725) == "01:02:05"


def test_false_runs_span_to_next_present_sample():
    times = [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    flags = [True, False, False, True, True, False]
    assert false_runs(times, flags, end_s=3.0) == [(0.5, 1.5, 1, 2), (2.5, 3.0, 5, 5)]
    assert false_runs(times, [True] * 6, 3.0) == []
    assert false_runs([], [], 1.0) == []


def test_true_runs_mirror_false_runs():
    from verifier.intervals import true_runs
    times = [0.0, 0.5, 1.0, 1.5]
    assert true_runs(times, [True, True, False, True], 2.0) == [(0.0, 1.0), (1.5, 2.0)]
