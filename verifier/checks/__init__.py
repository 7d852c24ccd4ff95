"""The checks. Each is one module in this package with one entry point:

    ID = "face.both_visible"       # the check id in the report
    SEVERITY = "critical"          # critical | major | minor
    NEEDS = ("frames",)            # analysis results it reads from the Context
    def run(ctx: Context) -> CheckResult

Adding a check is adding a module here; nothing else needs to change.
"""
from __future__ import annotations

import importlib
import logging
import pkgutil
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from verifier.report import CheckResult

log = logging.getLogger(__name__)

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

    _cache: dict = field(default_factory=dict, repr=False)

    def threshold(self, section: str, key: str) -> Any:
        return self.settings.threshold(section, key)

    def required_matches(self) -> list[tuple[Any, Any, Any]]:
        """(stage, RequiredPhrase, PhraseMatch) for every required phrase, computed once
        and shared by the checks that need when a phrase was said."""
        if "required" not in self._cache:
            self._cache["required"] = [
                (stage, phrase, self._match(phrase.texts, phrase.speaker, phrase.id))
                for stage, phrase in self.ruleset.required_phrases]
        return self._cache["required"]

    def question_matches(self) -> list[tuple[Any, Any, Any]]:
        """(stage, Confirmation, PhraseMatch of the staff's question) for every
        confirmation, computed once."""
        if "questions" not in self._cache:
            self._cache["questions"] = [
                (stage, conf, self._match(conf.texts, "staff", conf.id))
                for stage in self.ruleset.stages for conf in stage.confirmations]
        return self._cache["questions"]

    def _match(self, texts, speaker: str, phrase_id: str):
        from verifier.phrase_match import find_phrase

        return find_phrase(self.transcript, texts,
                           found_score=float(self.threshold("speech", "found_score")),
                           review_score=float(self.threshold("speech", "review_score")),
                           speaker=None if speaker == "any" else speaker, phrase_id=phrase_id)


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
        try:
            results.append(mod.run(ctx))
        except Exception as exc:  # one broken check must not lose the other findings
            log.exception("check %s crashed", mod.ID)
            results.append(CheckResult(mod.ID, "error", mod.SEVERITY,
                                       f"internal error in check: {type(exc).__name__}: {exc}"))
    return results
