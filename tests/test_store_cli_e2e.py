"""One recording end to end through the real command line: `dualrec ingest` runs the
verifier (speech model, face detector) on a generated booth video with real Mandarin
speech (AISHELL-1), stores it, and it can then be found by what was said."""
import json
import subprocess
import time

import pytest

from tests.fixtures import AISHELL_RULESET, CLIPS, DUALREC, aishell_track, render_video, write_sidecar



def dualrec(*args):
    return subprocess.run([DUALREC, *map(str, args)], capture_output=True, text=True,
                          timeout=300)


@pytest.mark.slow
def test_ingest_a_real_recording_then_find_it_by_what_was_said(tmp_path, db_url):
    times = aishell_track(tmp_path / "speech.wav", CLIPS)
    media = render_video(tmp_path / "BR001-E2E-0001.mp4", tmp_path / "speech.wav",
                         times[-1][1] + 1.0)
    sidecar = write_sidecar(media)
    real_id = json.loads(sidecar.read_text(encoding="utf-8"))["customer_id"]
    (tmp_path / "rules.yaml").write_text(AISHELL_RULESET, encoding="utf-8")

    r = dualrec("ingest", media, "--ruleset", tmp_path / "rules.yaml", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["recording_id"] == "BR001-E2E-0001" and out["status"] == "stored"
    assert out["verdict"] in ("pass", "fail", "review") and out["retention_until"] == "2027-11-20"
    assert real_id not in r.stdout + r.stderr

    shown = json.loads(dualrec("show", "BR001-E2E-0001", "--json").stdout)
    report = shown["report"]
    assert report["schema"] == "dualrec.report/1" and report["sha256"] == shown["sha256"]
    assert report["engine"]["asr_model"] and report["ruleset"]["id"] == "aishell-present"
    assert shown["verdict"] == report["verdict"] == out["verdict"]
    required = next(c for c in report["checks"] if c["id"] == "speech.required")
    assert required["status"] == "pass"  # both phrases heard: the transcript is real
    # what the speech model heard for the third clip, searched for by its words
    third = [seg for seg in report["transcript"] if seg["start_s"] >= times[2][0] - 0.5]
    assert third, report["transcript"]
    # (whisper base may mishear a character or two: search for what it wrote)
    from verifier.textnorm import normalize
    heard = normalize(third[0]["text"])
    assert len(heard) >= 6, third
    phrase = heard[:4]
    found = json.loads(dualrec("search", "--text", phrase, "--json").stdout)["results"]
    assert [x["recording_id"] for x in found] == ["BR001-E2E-0001"]
    [m] = found[0]["matches"]
    assert times[2][0] - 0.5 <= m["start_s"] <= m["end_s"] <= times[2][1] + 0.5

    started = time.monotonic()
    again = dualrec("ingest", media, "--ruleset", tmp_path / "rules.yaml", "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["status"] == "skipped"
    assert time.monotonic() - started < 15  # no models were run
    assert json.loads(dualrec("integrity", "--json").stdout)["ok"] is True

    bad = tmp_path / "no-sidecar.mp4"
    bad.write_bytes(media.read_bytes())
    r = dualrec("ingest", bad)
    assert r.returncode == 2 and "sidecar" in r.stderr
