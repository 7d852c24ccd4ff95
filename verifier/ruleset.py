"""Rulesets: the script a sale must follow, loaded from YAML under configs/rulesets/.

Shape per CONTRACT.md section 2; selection by product category and risk level, unless
the sidecar names a ruleset. Extensions: slots in phrases (`我是理财经理{name}`: 1-4
characters said there), confirmations that expect a "no" (是否有人向您承诺保本 → 没有), a
per-confirmation answer window, whether the product's risk level must be said aloud
(`risk_level.said`), and `risk_mismatch`: what the seller must say, and the customer
confirm, when the customer's risk tolerance is below the product's risk level.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from verifier.yamlfile import load_yaml, validate
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from verifier.phrase_match import split_slots
from verifier.textnorm import normalize

Speaker = Literal["staff", "customer", "any"]


def _check_phrase(text: str) -> str:
    try:
        literals, _ = split_slots(text)
    except ValueError as exc:
        raise ValueError(str(exc)) from None
    if not normalize("".join(literals)):
        raise ValueError(f"{text!r} has nothing to match besides its slots")
    return text


class RulesetError(ValueError):
    pass


class RequiredPhrase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1)
    text: str = Field(min_length=1)
    alternatives: list[str] = Field(default_factory=list)
    speaker: Speaker = "staff"
    critical: bool = True

    @field_validator("text")
    @classmethod
    def _v_text(cls, v: str) -> str:
        return _check_phrase(v)

    @field_validator("alternatives")
    @classmethod
    def _v_alternatives(cls, v: list[str]) -> list[str]:
        return [_check_phrase(x) for x in v]

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
    # The answer that counts as consent: "affirmative" (是的, 清楚, 同意…), or "negative"
    # for questions whose right answer is no (是否有人向您承诺保本保收益? → 没有).
    expect: Literal["affirmative", "negative"] = "affirmative"
    # Seconds after the question to wait for the answer; default speech.confirmation_window_s.
    window_s: float | None = Field(default=None, gt=0, le=300)

    @field_validator("question")
    @classmethod
    def _v_question(cls, v: str) -> str:
        return _check_phrase(v)

    @field_validator("alternatives")
    @classmethod
    def _v_alternatives(cls, v: list[str]) -> list[str]:
        return [_check_phrase(x) for x in v]

    @property
    def texts(self) -> list[str]:
        return [self.question, *self.alternatives]


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


class RiskLevelRule(BaseModel):
    """speech.risk_level: must the product's risk level be said aloud (R1-R5)?
    `optional`: when said it must still match the sidecar (e.g. insurance without one)."""
    model_config = ConfigDict(extra="forbid")
    said: Literal["required", "optional"] = "required"


class RiskMismatch(BaseModel):
    """When the customer's level (C1-C5) is below the product's (R1-R5): the extra
    warning the seller must give, and what the customer must confirm (适当性: a customer
    who insists on a product above their tolerance must be warned and confirm it)."""
    model_config = ConfigDict(extra="forbid")
    required: list[RequiredPhrase] = Field(min_length=1)
    confirmations: list[Confirmation] = Field(default_factory=list)


class Ruleset(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    version: str = Field(min_length=1)
    name: str | None = None
    applies_to: AppliesTo = Field(default_factory=AppliesTo)
    stages: list[Stage] = Field(min_length=1)
    forbidden: list[str] = Field(default_factory=list)
    risk_level: RiskLevelRule = Field(default_factory=RiskLevelRule)
    risk_mismatch: RiskMismatch | None = None
    source: str | None = None  # the file it was loaded from

    @model_validator(mode="after")
    def _unique_ids(self) -> "Ruleset":
        seen: set[str] = set()
        items = [x for stage in self.stages for x in [*stage.required, *stage.confirmations]]
        if self.risk_mismatch:
            items += [*self.risk_mismatch.required, *self.risk_mismatch.confirmations]
        for item in items:
            if item.id in seen:
                raise ValueError(f"phrase id {item.id!r} is used twice")
            seen.add(item.id)
        return self

    @property
    def required_phrases(self) -> list[tuple[Stage, RequiredPhrase]]:
        return [(stage, p) for stage in self.stages for p in stage.required]


def load_ruleset(path: str | Path) -> Ruleset:
    path = Path(path)
    data = load_yaml(path, "ruleset file", RulesetError)
    if not isinstance(data, dict):
        raise RulesetError(f"ruleset {path}: top level must be a mapping")
    ruleset = validate(Ruleset, data, f"ruleset {path}", RulesetError)
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
