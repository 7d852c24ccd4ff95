"""Rulesets: the script a sale must follow, loaded from YAML under configs/rulesets/.

Shape per CONTRACT.md section 2; selection by product category and risk level, unless
the sidecar names a ruleset.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Speaker = Literal["staff", "customer", "any"]


class RulesetError(ValueError):
    pass


class RequiredPhrase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1)
    text: str = Field(min_length=1)
    alternatives: list[str] = Field(default_factory=list)
    speaker: Speaker = "staff"
    critical: bool = True

    @property
    def texts(self) -> list[str]:
        return [self.text, *self.alternatives]


class Confirmation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1)
    question: str = Field(min_length=1)
    alternatives: list[str] = Field(default_factory=list)
    speaker: Speaker = "customer"   # who must answer
    critical: bool = True


class Stage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1)
    required: list[RequiredPhrase] = Field(default_factory=list)
    confirmations: list[Confirmation] = Field(default_factory=list)


class AppliesTo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    product_category: list[str] = Field(default_factory=list)
    product_risk_level: list[str] = Field(default_factory=list)

    def matches(self, category: str, risk_level: str) -> bool:
        return ((not self.product_category or category in self.product_category)
                and (not self.product_risk_level or risk_level in self.product_risk_level))


class Ruleset(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    version: str = Field(min_length=1)
    name: str | None = None
    applies_to: AppliesTo = Field(default_factory=AppliesTo)
    stages: list[Stage] = Field(min_length=1)
    forbidden: list[str] = Field(default_factory=list)
    source: str | None = None  # the file it was loaded from

    @model_validator(mode="after")
    def _unique_ids(self) -> "Ruleset":
        seen: set[str] = set()
        for stage in self.stages:
            for item in [*stage.required, *stage.confirmations]:
                if item.id in seen:
                    raise ValueError(f"phrase id {item.id!r} is used twice")
                seen.add(item.id)
        return self

    @property
    def required_phrases(self) -> list[tuple[Stage, RequiredPhrase]]:
        return [(stage, p) for stage in self.stages for p in stage.required]


def load_ruleset(path: str | Path) -> Ruleset:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RulesetError(f"ruleset file not found: {path}") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise RulesetError(f"ruleset {path} is unreadable: {exc}") from None
    if not isinstance(data, dict):
        raise RulesetError(f"ruleset {path}: top level must be a mapping")
    try:
        ruleset = Ruleset.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise RulesetError(f"ruleset {path}: {where}: {first['msg']}") from None
    return ruleset.model_copy(update={"source": str(path)})


class RulesetLibrary:
    """Every ruleset in the configured folders, indexed by id."""

    def __init__(self, dirs: list[Path]):
        self._by_id: dict[str, Ruleset] = {}
        for folder in dirs:
            for path in sorted(Path(folder).glob("*.y*ml")):
                ruleset = load_ruleset(path)
                if ruleset.id in self._by_id:
                    raise RulesetError(f"ruleset id {ruleset.id!r} is defined twice "
                                       f"({self._by_id[ruleset.id].source} and {path})")
                self._by_id[ruleset.id] = ruleset

    def ids(self) -> list[str]:
        return sorted(self._by_id)

    def get(self, ruleset_id: str) -> Ruleset:
        try:
            return self._by_id[ruleset_id]
        except KeyError:
            raise RulesetError(f"unknown ruleset {ruleset_id!r}; known: "
                               f"{', '.join(self.ids()) or 'none'}") from None

    def select(self, category: str, risk_level: str, requested: str | None = None) -> Ruleset:
        if requested:
            return self.get(requested)
        matches = [r for r in self._by_id.values() if r.applies_to.matches(category, risk_level)]
        if not matches:
            raise RulesetError(f"no ruleset applies to product_category={category} "
                               f"product_risk_level={risk_level}; name one in the sidecar's "
                               "ruleset field")
        # The most specific rule wins: fewest categories, then fewest risk levels.
        matches.sort(key=lambda r: (len(r.applies_to.product_category) or 99,
                                    len(r.applies_to.product_risk_level) or 99, r.id))
        return matches[0]
