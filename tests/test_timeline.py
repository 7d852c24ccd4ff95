"""The timeline picture: drawn from report dicts alone, and by `dualrec verify --timeline`."""
import json
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from verifier import timeline
from verifier.timeline import labelled_problem_spans, render_timeline

from tests.fixtures import DUALREC  # noqa: E402


def _levels(duration, quiet=()):
    return [[float(t), -60.0 if any(a <= t < b for a, b in quiet) else -22.0 + (t % 3)]
            for t in range(int(duration))]


def pass_report():
    return {
        "schema": "dualrec.report/1", "recording_id": "BR001-20261121-0007",
        "sha256": "0" * 64, "duration_s": 65.7, "verdict": "pass", "error": None,
        "checks": [
            {"id": "face.both_visible", "status": "pass", "severity": "critical",
             "message": "both faces identifiable in 100% of the recording", "evidence": []},
            {"id": "speech.required", "status": "pass", "severity": "critical",
             "message": "all 2 required phrases found", "evidence": [],
             "items": [{"id": "not-deposit", "found": True, "near_miss": False,
                        "start_s": 26.0, "end_s": 30.7, "heard": "理财非存款", "score": 0.97},
                       {"id": "risk-borne", "found": True, "near_miss": False,
                        "start_s": 40.0, "end_s": 43.0, "heard": "风险自担", "score": 0.9}]},
        ],
        "transcript": [{"start_s": 1.0, "end_s": 5.9, "speaker": "unknown",
                        "text": "您好，我是本行理财经理王芳。"},
                       {"start_s": 26.0, "end_s": 30.7, "speaker": "unknown",
                        "text": "理财非存款，产品有风险，投资须谨慎。"}],
        "ruleset": {"id": "wealth-standard", "version": "2026.11"},
        "engine": {"version": "0.1.0", "asr_model": "whisper-base", "face_detector": "YuNet"},
        "timeline": {"sample_fps": 2.0,
                     "faces": {"staff": [[0.0, 65.7]], "customer": [[0.0, 65.7]], "extra": []},
                     "audio_level_dbfs": {"unknown": _levels(65.7)}},
    }


def fail_report():
    """Ten minutes, two microphones, a customer who walks out during the disclosure,
    a third person standing by, a missing phrase, a near miss and a forbidden promise."""
    return {
        "schema": "dualrec.report/1", "recording_id": "BR002-20261122-0001",
        "sha256": "1" * 64, "duration_s": 600.0, "verdict": "fail", "error": None,
        "checks": [
            {"id": "media.readable", "status": "pass", "severity": "critical",
             "message": "video and audio decode", "evidence": []},
            {"id": "face.both_visible", "status": "fail", "severity": "critical",
             "message": "customer face not visible for 40.0 s (00:05:00-00:05:40)",
             "evidence": [{"start_s": 300.0, "end_s": 340.0, "role": "customer",
                           "detail": "customer face not identifiable; 1 identifiable face"}]},
            {"id": "face.extra_person", "status": "fail", "severity": "major",
             "message": "a third person in frame for 60.0 s continuously",
             "evidence": [{"start_s": 200.0, "end_s": 260.0, "detail": "1 third face"}]},
            {"id": "face.key_moments", "status": "fail", "severity": "critical",
             "message": "customer face not identifiable while not-guaranteed was said",
             "evidence": [{"start_s": 310.0, "end_s": 318.0, "role": "customer",
                           "moment": "not-guaranteed", "detail": "…"}],
             "items": [{"id": "not-guaranteed", "kind": "phrase", "window": [310.0, 318.0],
                        "staff_visible": 1.0, "customer_visible": 0.0, "status": "fail"},
                       {"id": "understood-risk", "kind": "confirmation",
                        "window": [500.0, 509.0], "staff_visible": 1.0,
                        "customer_visible": 1.0, "status": "pass"},
                       {"id": "not-deposit", "kind": "phrase", "window": None,
                        "status": "skipped", "note": "phrase not heard"}]},
            {"id": "speech.forbidden", "status": "fail", "severity": "critical",
             "message": "forbidden promise(s) 保本: first at 00:07:00 heard '这款产品保本'",
             "evidence": [{"start_s": 420.0, "end_s": 424.0,
                           "detail": "heard '这款产品保本': forbidden '保本'"}],
             "items": [{"term": "保本", "start_s": 420.0, "end_s": 424.0, "violation": True},
                       {"term": "保本", "start_s": 100.0, "end_s": 104.0, "violation": False}]},
            {"id": "speech.required", "status": "fail", "severity": "critical",
             "message": "missing required phrase(s): not-deposit; uncertain: "
                        "benchmark-not-promise (near miss)",
             "evidence": [{"start_s": 310.0, "end_s": 318.0, "detail": "found"}],
             "items": [
                 {"id": "staff-introduction", "found": True, "near_miss": False,
                  "start_s": 5.0, "end_s": 9.0},
                 {"id": "customer-risk-result", "found": True, "near_miss": False,
                  "start_s": 60.0, "end_s": 66.0},
                 {"id": "product-risk-level", "found": True, "near_miss": False,
                  "start_s": 62.0, "end_s": 70.0},
                 {"id": "not-deposit", "found": False, "near_miss": False,
                  "start_s": None, "end_s": None},
                 {"id": "not-guaranteed", "found": True, "near_miss": False,
                  "start_s": 310.0, "end_s": 318.0},
                 {"id": "benchmark-not-promise", "found": False, "near_miss": True,
                  "start_s": 350.0, "end_s": 356.0},
                 {"id": "lockup-redemption", "found": True, "near_miss": False,
                  "start_s": 350.0, "end_s": 356.0},
                 {"id": "risk-borne", "found": True, "near_miss": False,
                  "start_s": 352.0, "end_s": 360.0}]},
        ],
        "transcript": [
            {"start_s": float(t), "end_s": float(t) + 6.0,
             "speaker": "staff" if (t // 10) % 3 else "customer", "text": "本产品风险等级为R3"}
            for t in range(0, 590, 10)],
        "ruleset": {"id": "wealth-standard", "version": "2026.11"},
        "engine": {"version": "0.1.0"},
        "timeline": {"sample_fps": 2.0,
                     "faces": {"staff": [[0.0, 600.0]],
                               "customer": [[0.0, 300.0], [340.0, 600.0]],
                               "extra": [[200.0, 260.0], [450.0, 452.0]]},
                     "audio_level_dbfs": {"staff": _levels(600), "customer": _levels(
                         600, quiet=[(300, 340)])}},
    }


def error_report():
    return {
        "schema": "dualrec.report/1", "recording_id": "missing-file", "sha256": None,
        "duration_s": None, "verdict": "error",
        "error": "/srv/in/missing-file.mp4: media file does not exist",
        "checks": [{"id": "media.readable", "status": "error", "severity": "critical",
                    "message": "/srv/in/missing-file.mp4: media file does not exist",
                    "evidence": []},
                   {"id": "face.both_visible", "status": "skipped", "severity": "critical",
                    "message": "not run", "evidence": []}],
        "transcript": [], "ruleset": None, "engine": {"version": "0.1.0"},
        "metadata": None, "media": None, "timeline": None,
    }


def png_size(path: Path) -> tuple[int, int]:
    assert path.stat().st_size > 5000
    with Image.open(path) as img:
        assert img.format == "PNG"
        return img.size


@pytest.mark.parametrize("make", [pass_report, fail_report, error_report])
def test_renders_a_png_of_sane_size(tmp_path, make):
    out = render_timeline(make(), tmp_path / "sub" / "t.png")
    assert out == tmp_path / "sub" / "t.png"
    w, h = png_size(out)
    assert w == 1600 and 350 <= h <= 1400


def test_fail_report_draws_findings_in_red(tmp_path):
    out = render_timeline(fail_report(), tmp_path / "t.png")
    img = np.asarray(Image.open(out).convert("RGB")).astype(int)
    red = (abs(img[..., 0] - 0xC6) < 8) & (abs(img[..., 1] - 0x28) < 8) & (
        abs(img[..., 2] - 0x28) < 8)
    assert red.sum() > 5000  # the finding bars and the FAIL badge


def test_the_report_is_not_changed_and_can_be_redrawn_from_json(tmp_path):
    report = fail_report()
    before = json.dumps(report, sort_keys=True)
    render_timeline(report, tmp_path / "a.png")
    assert json.dumps(report, sort_keys=True) == before
    stored = json.loads(json.dumps(report, ensure_ascii=False))
    assert png_size(render_timeline(stored, tmp_path / "b.png")) == png_size(tmp_path / "a.png")


def test_minimal_and_odd_reports_do_not_crash(tmp_path):
    render_timeline({}, tmp_path / "empty.png")
    render_timeline({"verdict": "review", "duration_s": 0, "checks": [
        {"id": "media.quality", "status": "review", "message": "dark",
         "evidence": [{"start_s": 5.0}, {"detail": "no time"}, "junk"]}],
        "timeline": {"faces": {"staff": []}}}, tmp_path / "odd.png")
    assert png_size(tmp_path / "odd.png")[0] == 1600


def test_problem_spans_point_at_the_problems():
    checks = {c["id"]: c for c in fail_report()["checks"]}
    # Phrase items: the near miss, not the phrases that were heard.
    assert labelled_problem_spans(checks["speech.required"]) == [
        (350.0, 356.0, "benchmark-not-promise")]
    assert labelled_problem_spans(checks["face.key_moments"]) == [
        (310.0, 318.0, "not-guaranteed")]
    # Forbidden words: only the violation, not the excused disclosure.
    assert labelled_problem_spans(checks["speech.forbidden"]) == [(420.0, 424.0, "保本")]
    # Plain evidence: the intervals themselves.
    assert labelled_problem_spans(checks["face.both_visible"]) == [(300.0, 340.0, "customer")]


def test_without_a_chinese_font_no_glyph_is_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(timeline, "cjk_font", lambda: None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        render_timeline(fail_report(), tmp_path / "t.png")
    assert not [w for w in caught if "Glyph" in str(w.message)]
    # Chinese becomes pinyin, so a reader still sees what was heard.
    assert timeline._text("heard '保本'", False) == "heard 'bǎo běn'"
    assert timeline._text("heard '保本'", True) == "heard '保本'"


# ------------------------------------------------------------------- end to end

RULESET = """id: aishell-present
version: "1"
stages:
  - id: first
    required:
      - {id: halt, text: 甚至出现交易几乎停滞的情况, speaker: any}
forbidden: [保本]
"""


def test_dualrec_verify_draws_the_timeline(tmp_path):
    from tests.fixtures import aishell_track, render_video, write_sidecar

    times = aishell_track(tmp_path / "speech.wav", ["BAC009S0764W0121.wav"])
    duration = times[-1][1] + 1.0
    media = render_video(tmp_path / "rec.mp4", tmp_path / "speech.wav", duration,
                         customer_absent=[(1.0, duration)])
    write_sidecar(media)
    (tmp_path / "rules.yaml").write_text(RULESET, encoding="utf-8")
    out = tmp_path / "pictures" / "rec.png"
    r = subprocess.run([DUALREC, "verify", str(media), "--ruleset", str(tmp_path / "rules.yaml"),
                        "--json", "--timeline", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, r.stderr
    report = json.loads(r.stdout)
    checks = {c["id"]: c for c in report["checks"]}
    assert checks["face.key_moments"]["status"] == "fail"
    [item] = checks["face.key_moments"]["items"]
    assert item["id"] == "halt" and item["customer_visible"] < 0.2
    assert checks["face.extra_person"]["status"] == "pass"
    w, h = png_size(out)
    assert w == 1600 and h > 350
    assert r.stderr == ""
