"""Which files in a folder are recordings: media with a sidecar of the same stem."""
from __future__ import annotations

from pathlib import Path

VIDEO_EXTENSIONS = {".mp4", ".mov", ".mkv", ".avi", ".ts", ".flv"}


def find_recordings(folder: Path) -> list[Path]:
    """Video files in `folder` (not recursive), sorted by name. Separate audio files are
    named by their sidecar, so they are not recordings of their own."""
    return sorted(p for p in Path(folder).iterdir()
                  if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)
