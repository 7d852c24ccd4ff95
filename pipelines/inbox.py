"""The nightly inbox: which files are recordings, and which cannot be taken.

The inbox is a folder tree (one folder per day or per booth, as branches lay it out).
A recording is a video file with its sidecar ``<stem>.json`` beside it. What the scan
refuses, it says why: no sidecar, a link leading out of the inbox, a file that is still
being copied. Hidden files and folders (``.name``: partial uploads) are not looked at;
separate audio files are named by their sidecar, so they are not recordings of their own.
"""
from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from verifier.media_files import VIDEO_EXTENSIONS


@dataclass(frozen=True)
class InboxEntry:
    path: str            # absolute path of the media file
    rel: str             # path relative to the inbox (what reports show)
    sidecar: str | None  # absolute path of <stem>.json, when it exists
    problem: str | None  # why it cannot be taken; None: take it
    deferred: bool = False  # still being written: the next run takes it

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
    return sorted(entries, key=lambda e: e.rel)


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
    if min_age_s > 0:
        newest = max(media.stat().st_mtime, sidecar.stat().st_mtime)
        if now - newest < min_age_s:
            return InboxEntry(str(media), rel, str(sidecar),
                              f"changed {now - newest:.0f} s ago: still being copied? "
                              "left for the next run", deferred=True)
    return InboxEntry(str(media), rel, str(sidecar), None)
