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
