"""Turning per-sample booleans (one per analysed frame) into time intervals."""
from __future__ import annotations

from typing import Sequence


def false_runs(times: Sequence[float], flags: Sequence[bool], end_s: float
               ) -> list[tuple[float, float, int, int]]:
    """Intervals where `flags` is False, as (start_s, end_s, first_index, last_index).

    A run starts at its first False sample and ends at the next True sample (or at
    `end_s`), so a gap between two samples is counted in full: with 2 samples a second,
    a face missing in one frame is missing for 0.5 s.
    """
    runs = []
    i, n = 0, len(flags)
    while i < n:
        if flags[i]:
            i += 1
            continue
        j = i
        while j + 1 < n and not flags[j + 1]:
            j += 1
        stop = times[j + 1] if j + 1 < n else max(end_s, times[j])
        runs.append((float(times[i]), float(stop), i, j))
        i = j + 1
    return runs


def overlap(a_start: float, a_end: float, b_start: float, b_end: float) -> float:
    return max(0.0, min(a_end, b_end) - max(a_start, b_start))


def true_runs(times: Sequence[float], flags: Sequence[bool], end_s: float
              ) -> list[tuple[float, float]]:
    """Intervals where `flags` is True, measured like `false_runs`."""
    return [(a, b) for a, b, _, _ in false_runs(times, [not f for f in flags], end_s)]
