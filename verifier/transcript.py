"""Timed transcript segments as produced by the speech step."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

SPEAKERS = ("staff", "customer", "unknown")


@dataclass(frozen=True)
class Segment:
    start_s: float
    end_s: float
    text: str
    # "staff" / "customer" when the booth records them on separate channels,
    # otherwise "unknown" (a single mixed microphone tells us nothing).
    speaker: str = "unknown"


def join_text(segments: Iterable[Segment], sep: str = "") -> str:
    """Raw text of consecutive segments; Chinese needs no separator between them."""
    return sep.join(s.text for s in segments)
