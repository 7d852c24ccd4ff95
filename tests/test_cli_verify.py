"""`dualrec verify` from the outside: real speech (AISHELL-1), generated booth video."""
import json
import subprocess

import pytest

from tests.fixtures import AISHELL_RULESET, CLIPS, DUALREC, SPEECH, aishell_track, render_video, write_sidecar


RULESET_ABSENT = AISHELL_RULESET.replace(
    "forbidden:", "  - id: third\n    required:\n"
    "      - {id: not-deposit, text: 理财非存款，产品有风险，投资须谨慎, speaker: any}\n"
    "      - {id: risk-level, text: 本产品风险等级为R3, speaker: any}\nforbidden:")


def dualrec(*args, cwd=None):
    return subprocess.run([DUALREC, *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def booth(tmp_path_factory):
    root = tmp_path_factory.mktemp("booth")
    times = aishell_track(root / "speech.wav", CLIPS)
    duration = times[-1][1] + 1.0
    (root / "present.yaml").write_text(AISHELL_RULESET, encoding="utf-8")
    (root / "absent.yaml").write_text(RULESET_ABSENT, encoding="utf-8")
    good = render_video(root / "good.mp4", root / "speech.wav", duration)
    write_sidecar(good)
    # The customer walks out for 9 s of the 16.6 s.
    gone = render_video(root / "gone.mp4", root / "speech.wav", duration,
                        customer_absent=[(4.0, 13.0)])
    write_sidecar(gone)
    # Silent video plus the speech as a separate file that starts 2 s into the video.
    split = render_video(root / "split.mp4", None, duration + 2.0)
    write_sidecar(split, audio_file="speech.wav", audio_offset_s=2.0)
    return {"root": root, "times": times}


def report_of(result):
    assert result.stdout.lstrip().startswith("{"), result.stdout
    return json.loads(result.stdout)


def check(report, check_id):
    return next(c for c in report["checks"] if c["id"] == check_id)


def test_real_speech_phrases_found_with_times(booth):
    root, times = booth["root"], booth["times"]
    r = dualrec("verify", root / "good.mp4", "--ruleset", root / "present.yaml", "--json")
    assert r.returncode == 0, r.stderr
    report = report_of(r)
    assert report["schema"] == "dualrec.report/1" and report["verdict"] == "pass"
    assert report["recording_id"] == "good" and len(report["sha256"]) == 64
    items = {i["id"]: i for i in check(report, "speech.required")["items"]}
    assert items["halt"]["found"] and items["agency"]["found"]
    assert times[0][0] - 0.5 <= items["halt"]["start_s"] <= items["halt"]["end_s"] <= times[0][1] + 0.5
    assert times[2][0] - 0.5 <= items["agency"]["start_s"] <= times[2][1]
    assert check(report, "face.both_visible")["status"] == "pass"
    assert report["metadata"]["customer_id"].count("*") >= 8  # masked
    assert report["engine"]["asr_model"] and report["engine"]["face_detector"]
    assert r.stderr == ""


def test_phrases_not_said_are_not_found(booth):
    root = booth["root"]
    r = dualrec("verify", root / "good.mp4", "--ruleset", root / "absent.yaml", "--json")
    assert r.returncode == 1
    report = report_of(r)
    assert report["verdict"] == "fail"
    items = {i["id"]: i for i in check(report, "speech.required")["items"]}
    assert not items["not-deposit"]["found"] and not items["risk-level"]["found"]
    assert items["halt"]["found"]
    assert "not-deposit" in check(report, "speech.required")["message"]


def test_customer_leaving_fails_with_interval(booth):
    root = booth["root"]
    r = dualrec("verify", root / "gone.mp4", "--ruleset", root / "present.yaml", "--json")
    assert r.returncode == 1
    face = check(report_of(r), "face.both_visible")
    assert face["status"] == "fail" and "customer face not visible" in face["message"]
    [ev] = [e for e in face["evidence"] if e["role"] == "customer"]
    assert 3.5 <= ev["start_s"] <= 4.5 and 12.5 <= ev["end_s"] <= 13.5


def test_separate_audio_file_times_are_shifted_by_offset(booth):
    root, times = booth["root"], booth["times"]
    r = dualrec("verify", root / "split.mp4", "--ruleset", root / "present.yaml", "--json")
    assert r.returncode == 0, r.stderr
    report = report_of(r)
    halt = {i["id"]: i for i in check(report, "speech.required")["items"]}["halt"]
    assert times[0][0] + 2.0 - 0.5 <= halt["start_s"] <= times[0][1] + 2.0
    assert "speech.wav" in check(report, "media.readable")["evidence"][0]["detail"]


def test_human_output_lists_checks(booth):
    root = booth["root"]
    r = dualrec("verify", root / "gone.mp4", "--ruleset", root / "present.yaml")
    assert r.returncode == 1
    assert r.stdout.startswith("gone: FAIL")
    assert "face.both_visible" in r.stdout and "00:00:04-00:00:13" in r.stdout


# --- bad input: verdict error, exit 2, one line on stderr, no traceback ----------------

def assert_error(r, *needles):
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dualrec: error: "), r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def broken(tmp_path, booth):
    good = booth["root"] / "good.mp4"
    data = good.read_bytes()
    cases = {
        "empty.mp4": b"",
        "text.mp4": "这不是视频\n".encode() * 100,
        "truncated.mp4": data[: len(data) // 2],
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        write_sidecar(tmp_path / name)
    return tmp_path


@pytest.mark.parametrize("name, needle", [
    ("empty.mp4", "empty"),
    ("text.mp4", "not a media file"),
    ("truncated.mp4", "truncated or corrupt"),
])
def test_broken_media_is_an_error(broken, name, needle):
    r = dualrec("verify", broken / name, "--json")
    assert_error(r, name, needle)
    report = report_of(r)
    assert report["verdict"] == "error" and needle in report["error"]
    assert check(report, "media.readable")["status"] == "error"


def test_faststart_truncation_is_an_error(tmp_path, booth):
    src = booth["root"] / "good.mp4"
    fast = tmp_path / "fast.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(src), "-c", "copy", "-movflags",
                    "+faststart", str(fast)], check=True)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(fast.read_bytes()[: fast.stat().st_size * 2 // 3])
    write_sidecar(cut)
    assert_error(dualrec("verify", cut), "truncated or corrupt")


def test_video_without_audio_is_an_error(tmp_path):
    silent = render_video(tmp_path / "silent.mp4", None, 3.0)
    write_sidecar(silent)
    assert_error(dualrec("verify", silent), "no audio stream")


def test_missing_sidecar_is_an_error(tmp_path, booth):
    media = tmp_path / "nosidecar.mp4"
    media.write_bytes((booth["root"] / "good.mp4").read_bytes())
    line = assert_error(dualrec("verify", media, "--json"), "nosidecar.json")
    assert "sidecar" in line


def test_invalid_sidecar_field_is_named(tmp_path, booth):
    media = tmp_path / "bad.mp4"
    media.write_bytes((booth["root"] / "good.mp4").read_bytes())
    write_sidecar(media, product_risk_level="R9")
    r = dualrec("verify", media, "--json")
    assert_error(r, "product_risk_level")
    assert check(report_of(r), "metadata.sidecar")["status"] == "error"


def test_missing_media_file_is_an_error(tmp_path):
    assert_error(dualrec("verify", tmp_path / "none.mp4"), "does not exist")


def test_bad_ruleset_is_an_error(tmp_path, booth):
    bad = tmp_path / "r.yaml"
    bad.write_text("id: x\nstages: []\n", encoding="utf-8")
    assert_error(dualrec("verify", booth["root"] / "good.mp4", "--ruleset", bad), "r.yaml")
