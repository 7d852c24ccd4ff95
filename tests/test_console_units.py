"""The console's pure parts: Range parsing, branch scope, the timeline's lanes, charts."""
from __future__ import annotations

import pytest

from console.accounts import User
from console.charts import bar_chart
from console.media import BadRange, content_type, parse_range
from console.roles import MATRIX, PERMISSIONS, ROLES, can, in_scope, scope_branches
from console.timeline_view import build


@pytest.mark.parametrize("header, expected", [
    (None, None), ("", None),
    ("bytes=0-99", (0, 99)), ("bytes=100-", (100, 999)), ("bytes=-10", (990, 999)),
    ("bytes=-5000", (0, 999)), ("bytes=990-5000", (990, 999)), ("bytes=999-999", (999, 999)),
])
def test_parse_range(header, expected):
    assert parse_range(header, 1000) == expected


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5-4", "bytes=-0", "bytes=-",
                                    "bytes=0-1,5-6", "items=0-1", "bytes=a-b"])
def test_unsatisfiable_or_malformed_ranges(header):
    with pytest.raises(BadRange):
        parse_range(header, 1000)


def test_content_types():
    assert content_type("a.MP4") == "video/mp4"
    assert content_type("x.wav") == "audio/wav"
    assert content_type("noext") == "application/octet-stream"


def test_every_role_has_a_row_and_only_known_permissions():
    assert set(MATRIX) == set(ROLES)
    for perms in MATRIX.values():
        assert perms <= set(PERMISSIONS)
    assert can(User(1, "l", "legal"), "customer_data")
    assert not can(User(1, "v", "viewer", ("BR001",)), "customer_data")
    assert not can(None, "view")
    with pytest.raises(ValueError):
        can(User(1, "a", "admin"), "no-such-permission")


def test_branch_scope():
    everyone = User(1, "a", "auditor")
    br1 = User(2, "v", "viewer", ("BR001", "BR003"))
    assert scope_branches(everyone) is None
    assert scope_branches(everyone, ["BR002"]) == ["BR002"]
    assert scope_branches(br1) == ["BR001", "BR003"]
    assert scope_branches(br1, ["BR002"]) == []  # outside: matches nothing
    assert scope_branches(br1, ["BR003", "BR002"]) == ["BR003"]
    assert in_scope(br1, "BR001") and not in_scope(br1, "BR002")
    assert in_scope(everyone, "anything")


def test_timeline_lanes_from_a_report():
    report = {
        "duration_s": 60.0,
        "checks": [
            {"id": "face.both_visible", "status": "fail", "message": "absent",
             "evidence": [{"start_s": 20.0, "end_s": 30.0, "role": "customer"}]},
            {"id": "speech.required", "status": "review", "message": "near miss",
             "items": [{"id": "not-deposit", "found": False, "near_miss": True,
                        "start_s": 5.0, "end_s": 8.0}, {"id": "risk", "found": False}]},
            {"id": "media.readable", "status": "pass", "message": "ok"},
        ],
        "transcript": [{"start_s": 1.0, "end_s": 4.0, "speaker": "staff", "text": "您好"},
                       {"start_s": 40.0, "end_s": 42.0, "speaker": "customer", "text": "是的"}],
        "timeline": {"faces": {"staff": [[0.0, 60.0]], "customer": [[0.0, 20.0], [30.0, 60.0]],
                               "extra": []}},
    }
    tl = build(report)
    names = [lane["name"] for lane in tl["lanes"]]
    assert names[:2] == ["face.both_visible", "speech.required"]  # problems first
    assert "face: customer" in names and "speech: staff" in names and "phrases" in names
    customer = next(lane for lane in tl["lanes"] if lane["name"] == "face: customer")
    absent = [s for s in customer["spans"] if s["kind"] == "absent"]
    assert [(s["start"], s["end"]) for s in absent] == [(20.0, 30.0)]
    assert absent[0]["x"] == pytest.approx(20 / 60 * 1000)
    fail = tl["lanes"][0]["spans"][0]
    assert (fail["start"], fail["end"], fail["kind"]) == (20.0, 30.0, "fail")
    review = tl["findings"][1]
    assert review["untimed"] == ["risk"]  # never heard: no time to seek to
    assert [t["t"] for t in tl["ticks"]][:3] == [0, 5, 10]


def test_no_timeline_without_times():
    assert build(None) is None
    assert build({"checks": [], "transcript": []}) is None


def test_chart_labels_are_escaped():
    svg = bar_chart([("<script>x</script>", 0.5), ("ok", None)], percent=True, title='"t"')
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert 'aria-label="&quot;t&quot;"' in svg
