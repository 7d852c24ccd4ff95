"""The nightly inbox: which files are recordings, and which cannot be taken.

The inbox is a folder tree (one folder per day or per booth, as branches lay it out).
A recording is a video file with its sidecar ``<stem>.json`` beside it. What the scan
refuses, it says why: no sidecar, a link leading out of the inbox, a file that is still
being copied, two sidecars giving one recording id. Hidden files and folders (``.name``:
partial uploads) are not looked at; separate audio files are named by their sidecar, so
they are not recordings of their own.

The scan reads each sidecar's JSON, only for its ``recording_id`` and ``audio_file``;
whether the sidecar is valid is decided later, by the batch's check step.
"""
from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from verifier.media_files import VIDEO_EXTENSIONS


@dataclass(frozen=True)
class InboxEntry:
    path: str            # absolute path of the media file
    rel: str             # path relative to the inbox (what reports show)
    sidecar: str | None  # absolute path of <stem>.json, when it exists
    problem: str | None  # why it cannot be taken; None: take it
    deferred: bool = False  # still being written: the next run takes it
    recording_id: str | None = None  # as the sidecar gives it (or the media's stem)

    def to_dict(self) -> dict:
        return asdict(self)


class InboxError(ValueError):
    """The inbox itself is unusable (missing, not a folder)."""


def scan_inbox(inbox: str | os.PathLike, min_age_s: float = 0.0,
               now: float | None = None) -> list[InboxEntry]:
    """Every video file under `inbox` (sorted by relative path), paired with its sidecar."""
    root = Path(inbox)
    if not root.exists():
        raise InboxError(f"inbox {root} does not exist")
    if not root.is_dir():
        raise InboxError(f"inbox {root} is not a folder")
    root = root.resolve()
    now = time.time() if now is None else now
    entries = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith(".") or Path(name).suffix.lower() not in VIDEO_EXTENSIONS:
                continue
            entries.append(_entry(root, Path(folder) / name, min_age_s, now))
    return _refuse_shared_ids(root, sorted(entries, key=lambda e: e.rel))


def _inside(root: Path, path: Path) -> bool:
    try:
        path.resolve().relative_to(root)
    except (ValueError, OSError, RuntimeError):
        return False
    return True


def _entry(root: Path, media: Path, min_age_s: float, now: float) -> InboxEntry:
    rel = media.relative_to(root).as_posix()
    sidecar = media.with_suffix(".json")
    if not _inside(root, media):
        return InboxEntry(str(media), rel, None,
                          "the media file is a link that leads outside the inbox")
    if not media.is_file():
        return InboxEntry(str(media), rel, None, "the media file is not a regular file "
                          "(a broken link?)")
    if not sidecar.exists():
        return InboxEntry(str(media), rel, None,
                          f"no sidecar: {sidecar.name} is missing next to the media file "
                          "(a recording needs its sale metadata)")
    if not _inside(root, sidecar):
        return InboxEntry(str(media), rel, None,
                          f"the sidecar {sidecar.name} is a link that leads outside the inbox")
    if not sidecar.is_file():  # a FIFO or device would block the batch on open()
        return InboxEntry(str(media), rel, None,
                          f"the sidecar {sidecar.name} is not a regular file")
    data = _sidecar_json(sidecar)
    rid = _recording_id(data, media)
    if min_age_s > 0:
        newest = max(media.stat().st_mtime, sidecar.stat().st_mtime,
                     _audio_mtime(sidecar, data))
        if now - newest < min_age_s:
            return InboxEntry(str(media), rel, str(sidecar),
                              f"changed {now - newest:.0f} s ago: still being copied? "
                              "left for the next run", deferred=True, recording_id=rid)
    return InboxEntry(str(media), rel, str(sidecar), None, recording_id=rid)


def _sidecar_json(sidecar: Path) -> dict | None:
    """The sidecar's JSON object, or None when it cannot be read as one (the check step
    says what is wrong with it; the scan does not refuse for it)."""
    from verifier.sidecar import MAX_SIDECAR_BYTES

    try:
        with open(sidecar, "rb") as f:
            raw = f.read(MAX_SIDECAR_BYTES + 1)
        data = json.loads(raw.decode("utf-8-sig"))
    except (OSError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _recording_id(data: dict | None, media: Path) -> str | None:
    """The id this recording will be stored under, as verifier.sidecar.load_sidecar
    makes it: the sidecar's recording_id (stripped), else the media file's stem."""
    if data is None:
        return None
    rid = data.get("recording_id")
    if rid is None:
        return media.stem
    if not isinstance(rid, str):
        return None  # not a valid id: the check step refuses the sidecar
    return rid.strip() or None


def _audio_mtime(sidecar: Path, data: dict | None) -> float:
    """When the sidecar's separate audio file last changed (0: none, or not there yet:
    the check step refuses a missing one). It is copied like the video and can arrive
    last."""
    name = (data or {}).get("audio_file")
    if not isinstance(name, str) or not name.strip():
        return 0.0
    try:
        return (sidecar.parent / name.strip()).stat().st_mtime
    except (OSError, ValueError):  # missing, a bad name (NUL): the check step says so
        return 0.0


def _refuse_shared_ids(root: Path, entries: list[InboxEntry]) -> list[InboxEntry]:
    """Refuse every file of a group whose sidecars give one recording_id (two folders
    can hold same-named files, and the id defaults to the stem): taken one after the
    other, each run would overwrite the stored metadata with the other's."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, e in enumerate(entries):
        if e.recording_id is not None and (e.problem is None or e.deferred):
            groups[e.recording_id].append(i)
    out = list(entries)
    for rid, members in groups.items():
        if len(members) < 2:
            continue
        for i in members:
            others = ", ".join(_other(root, entries[i], entries[j]) for j in members if j != i)
            out[i] = replace(entries[i], deferred=False, problem=(
                f"recording_id {rid} is also given by {others}: "
                f"{'two' if len(members) == 2 else len(members)} recordings under one id; "
                "fix the sidecars"))
    return out


def _other(root: Path, entry: InboxEntry, other: InboxEntry) -> str:
    """The other file giving the same id: its sidecar, or its media file when both
    share one sidecar (a.mp4 and a.mov next to a.json)."""
    name = Path(other.sidecar).relative_to(root).as_posix()
    return name if other.sidecar != entry.sidecar else f"{name} (for {other.rel})"
