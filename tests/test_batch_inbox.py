"""The nightly inbox scan: which files are recordings and why others are refused."""
import os
import time

import pytest

from pipelines.inbox import InboxError, scan_inbox


def touch(path, text="x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_pairs_media_with_sidecars_through_the_folder_tree(tmp_path):
    touch(tmp_path / "2026-11-21" / "booth1" / "a.mp4")
    touch(tmp_path / "2026-11-21" / "booth1" / "a.json")
    touch(tmp_path / "2026-11-21" / "b.MOV")
    touch(tmp_path / "2026-11-21" / "b.json")
    touch(tmp_path / "c.mkv")  # no sidecar
    touch(tmp_path / "c.wav")  # a separate audio file is not a recording of its own
    touch(tmp_path / "notes.txt")
    touch(tmp_path / ".partial" / "d.mp4")  # hidden folders: uploads in progress
    touch(tmp_path / ".e.mp4")
    entries = scan_inbox(tmp_path)
    assert [e.rel for e in entries] == ["2026-11-21/b.MOV", "2026-11-21/booth1/a.mp4", "c.mkv"]
    b, a, c = entries
    assert a.problem is None and a.sidecar == str(tmp_path.resolve() / "2026-11-21/booth1/a.json")
    assert b.problem is None
    assert c.sidecar is None and "no sidecar: c.json is missing" in c.problem


def test_links_leading_outside_the_inbox_are_refused(tmp_path):
    inbox, outside = tmp_path / "inbox", tmp_path / "elsewhere"
    touch(outside / "secret.mp4")
    touch(outside / "secret.json")
    touch(inbox / "x.json")
    os.symlink(outside / "secret.mp4", inbox / "x.mp4")
    touch(inbox / "y.mp4")
    os.symlink(outside / "secret.json", inbox / "y.json")
    os.symlink(outside, inbox / "linked-folder")  # folders behind links are not walked
    os.symlink(inbox / "gone.mp4", inbox / "z.mp4")  # broken link
    by = {e.rel: e for e in scan_inbox(inbox)}
    assert set(by) == {"x.mp4", "y.mp4", "z.mp4"}
    assert "leads outside the inbox" in by["x.mp4"].problem
    assert "sidecar y.json is a link that leads outside" in by["y.mp4"].problem
    assert by["z.mp4"].problem is not None


def test_files_still_being_copied_are_left_for_the_next_run(tmp_path):
    touch(tmp_path / "new.mp4")
    touch(tmp_path / "new.json")
    touch(tmp_path / "old.mp4")
    touch(tmp_path / "old.json")
    hour_ago = time.time() - 3600
    for name in ("old.mp4", "old.json"):
        os.utime(tmp_path / name, (hour_ago, hour_ago))
    by = {e.rel: e for e in scan_inbox(tmp_path, min_age_s=60)}
    assert by["new.mp4"].deferred and "still being copied" in by["new.mp4"].problem
    assert not by["old.mp4"].deferred and by["old.mp4"].problem is None
    assert all(e.problem is None for e in scan_inbox(tmp_path, min_age_s=0))


def test_a_missing_inbox_is_bad_input(tmp_path):
    with pytest.raises(InboxError, match="does not exist"):
        scan_inbox(tmp_path / "nope")
    touch(tmp_path / "file")
    with pytest.raises(InboxError, match="not a folder"):
        scan_inbox(tmp_path / "file")


def test_a_sidecar_that_is_not_a_regular_file_is_refused_without_opening_it(tmp_path):
    touch(tmp_path / "f.mp4")
    os.mkfifo(tmp_path / "f.json")  # opening it would wait for a writer forever
    [entry] = scan_inbox(tmp_path)
    assert "not a regular file" in entry.problem


def test_the_summary_chart_takes_ids_with_dollar_signs_literally():
    from pipelines.batch_summary import _chart

    rows = [{"name": "BR$\\foo{$", "n": 1, "pass": 1, "fail": 0, "review": 0, "error": 0,
             "rate": 1.0}]
    assert len(_chart(rows)) > 1000  # a PNG, not a mathtext parse error


def age(path, seconds):
    t = time.time() - seconds
    os.utime(path, (t, t))


def test_a_separate_audio_file_still_being_copied_defers_its_recording(tmp_path):
    import json

    touch(tmp_path / "v.mp4")
    touch(tmp_path / "v.json", json.dumps({"audio_file": "audio/v.wav"}))
    touch(tmp_path / "audio" / "v.wav")  # written just now, after the video and sidecar
    for name in ("v.mp4", "v.json"):
        age(tmp_path / name, 3600)
    [entry] = scan_inbox(tmp_path, min_age_s=60)
    assert entry.deferred and "still being copied" in entry.problem
    age(tmp_path / "audio" / "v.wav", 3600)
    [entry] = scan_inbox(tmp_path, min_age_s=60)
    assert entry.problem is None and not entry.deferred


def test_a_sidecar_the_scan_cannot_parse_is_left_to_the_check_step(tmp_path):
    touch(tmp_path / "a.mp4")
    touch(tmp_path / "a.json", "{not json")
    touch(tmp_path / "b.mp4")
    touch(tmp_path / "b.json", '{"audio_file": 7, "recording_id": ["x"]}')
    touch(tmp_path / "c.mp4")
    touch(tmp_path / "c.json", '{"audio_file": "missing.wav"}')
    for name in ("a.mp4", "a.json", "b.mp4", "b.json", "c.mp4", "c.json"):
        age(tmp_path / name, 3600)
    entries = scan_inbox(tmp_path, min_age_s=60)
    assert [(e.problem, e.deferred) for e in entries] == [(None, False)] * 3


def test_two_sidecars_giving_one_recording_id_are_both_refused(tmp_path):
    import json

    touch(tmp_path / "day1" / "R1.mp4")
    touch(tmp_path / "day1" / "R1.json", "{}")  # the id defaults to the stem: R1
    touch(tmp_path / "day2" / "R1.mp4")
    touch(tmp_path / "day2" / "R1.json", "{}")
    touch(tmp_path / "day3" / "other.mp4")
    touch(tmp_path / "day3" / "other.json", json.dumps({"recording_id": " R1 "}))
    touch(tmp_path / "day3" / "fine.mp4")
    touch(tmp_path / "day3" / "fine.json", json.dumps({"recording_id": "R2"}))
    by = {e.rel: e for e in scan_inbox(tmp_path)}
    assert by["day3/fine.mp4"].problem is None
    assert by["day1/R1.mp4"].problem == (
        "recording_id R1 is also given by day2/R1.json, day3/other.json: "
        "3 recordings under one id; fix the sidecars")
    assert "also given by day1/R1.json, day3/other.json" in by["day2/R1.mp4"].problem
    assert "also given by day1/R1.json, day2/R1.json" in by["day3/other.mp4"].problem
    assert not any(e.deferred for e in by.values())


def test_an_id_conflict_is_refused_even_when_one_file_is_still_being_copied(tmp_path):
    touch(tmp_path / "a" / "R1.mp4")
    touch(tmp_path / "a" / "R1.json", "{}")
    touch(tmp_path / "b" / "R1.mp4")
    touch(tmp_path / "b" / "R1.json", "{}")
    for name in ("a/R1.mp4", "a/R1.json"):
        age(tmp_path / name, 3600)
    a, b = scan_inbox(tmp_path, min_age_s=60)
    assert (a.problem, a.deferred) == ("recording_id R1 is also given by b/R1.json: two "
                                       "recordings under one id; fix the sidecars", False)
    assert not b.deferred and "also given by a/R1.json" in b.problem


def test_two_videos_sharing_one_sidecar_are_both_refused(tmp_path):
    touch(tmp_path / "s.mp4")
    touch(tmp_path / "s.mov")
    touch(tmp_path / "s.json", "{}")
    mov, mp4 = scan_inbox(tmp_path)
    assert "recording_id s is also given by s.json (for s.mp4)" in mov.problem
    assert "recording_id s is also given by s.json (for s.mov)" in mp4.problem
