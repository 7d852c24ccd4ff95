"""The verification report (CONTRACT.md section 4) and how checks make a verdict."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA = "dualrec.report/1"
STATUSES = ("pass", "fail", "review", "skipped", "error")
SEVERITIES = ("critical", "major", "minor")
EXIT_CODES = {"pass": 0, "fail": 1, "error": 2, "review": 3}


@dataclass
class CheckResult:
    id: str
    status: str
    severity: str
    message: str
    evidence: list[dict[str, Any]] = field(default_factory=list)
    items: list[dict[str, Any]] | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"check {self.id}: unknown status {self.status!r}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"check {self.id}: unknown severity {self.severity!r}")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if self.items is None:
            out.pop("items")
        return out


def decide_verdict(checks: list[CheckResult]) -> str:
    """error: something could not be verified; fail: a critical check failed;
    review: a person must look (uncertain evidence, or a non-critical failure)."""
    if any(c.status == "error" for c in checks):
        return "error"
    if any(c.status == "fail" and c.severity == "critical" for c in checks):
        return "fail"
    if any(c.status in ("review", "fail") for c in checks):
        return "review"
    return "pass"


def reasons(report: dict[str, Any]) -> list[str]:
    """One line per check that kept the recording from passing."""
    if report.get("error"):
        return [report["error"]]
    return [f"{c['id']}: {c['message']}" for c in report["checks"]
            if c["status"] in ("fail", "review", "error")]


@dataclass
class Report:
    recording_id: str
    sha256: str | None
    duration_s: float | None
    verdict: str
    checks: list[CheckResult]
    transcript: list[dict[str, Any]]
    ruleset: dict[str, str] | None
    engine: dict[str, str]
    error: str | None = None
    metadata: dict[str, Any] | None = None  # sale metadata, personal data masked
    media: dict[str, Any] | None = None
    timeline: dict[str, Any] | None = None  # face presence intervals, audio levels

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "recording_id": self.recording_id,
            "sha256": self.sha256,
            "duration_s": None if self.duration_s is None else round(self.duration_s, 3),
            "verdict": self.verdict,
            "error": self.error,
            "checks": [c.to_dict() for c in self.checks],
            "transcript": self.transcript,
            "ruleset": self.ruleset,
            "engine": self.engine,
            "metadata": self.metadata,
            "media": self.media,
            "timeline": self.timeline,
        }


def fmt_time(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
