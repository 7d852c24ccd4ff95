"""The checks. Each is one module in this package with one entry point:

    ID = "face.both_visible"       # the check id in the report
    SEVERITY = "critical"          # critical | major | minor
    NEEDS = ("frames",)            # analysis results it reads from the Context
    def run(ctx: Context) -> CheckResult

Adding a check is adding a module here; nothing else needs to change.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from verifier.report import CheckResult

# Report order: the file first, then faces, then speech.
_CATEGORY_ORDER = {"metadata": 0, "media": 1, "face": 2, "speech": 3}


@dataclass
class Context:
    settings: Any
    sidecar: Any
    ruleset: Any
    duration_s: float | None = None
    media: Any = None                  # MediaInfo of the main file
    audio_media: Any = None            # MediaInfo of a separate audio file, if any
    frames: Any = None                 # list[FrameFaces]
    transcript: Any = None             # list[Segment]
    audio_levels: Any = None           # {speaker: [(second, dBFS)]}, "unknown" for mono
    decode_errors: list[str] = field(default_factory=list)
    # Why an analysis result is missing, by name. `unavailable`: not attempted because
    # an earlier step already failed (its check reports the error), so dependants are
    # skipped; `failed`: the analysis itself broke, so dependants cannot be verified.
    unavailable: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    def threshold(self, section: str, key: str) -> Any:
        return self.settings.threshold(section, key)


def _modules() -> list[ModuleType]:
    mods = [importlib.import_module(f"{__name__}.{info.name}")
            for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_")]
    return sorted(mods, key=lambda m: (_CATEGORY_ORDER.get(m.ID.split(".")[0], 9), m.ID))


def check_ids() -> list[str]:
    return [m.ID for m in _modules()]


def run_all(ctx: Context) -> list[CheckResult]:
    results = []
    for mod in _modules():
        missing = [n for n in getattr(mod, "NEEDS", ()) if getattr(ctx, n) is None]
        broken = [ctx.failed[n] for n in missing if n in ctx.failed]
        if broken:
            results.append(CheckResult(mod.ID, "error", mod.SEVERITY,
                                       "could not be verified: " + "; ".join(broken)))
            continue
        if missing:
            why = "; ".join(ctx.unavailable.get(n, f"{n} not available") for n in missing)
            results.append(CheckResult(mod.ID, "skipped", mod.SEVERITY, f"not run: {why}"))
            continue
        results.append(mod.run(ctx))
    return results
