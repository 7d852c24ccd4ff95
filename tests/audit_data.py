"""Recordings for the audit tests (sampling, review, statistics, reports), stored
without running any model: `make_recording` (tests/conftest.py) with the sale metadata
and check statuses each test needs."""
from __future__ import annotations

from storage.ingest import store_recording


def add(store, make_recording, rid: str, *, verdict: str = "pass", day: str = "2026-11-05",
        branch: str = "BR001", staff: str = "S1024", category: str = "wealth",
        risk: str = "R3", at: str = "10:00:00", checks: dict[str, str] | None = None,
        **sidecar):
    """Store one recording sold on `day` (Beijing time) whose current run has `verdict`
    and, when given, exactly the check statuses `checks` ({check_id: status})."""
    media, side, report = make_recording(
        rid, verdict=verdict, branch_id=branch, staff_id=staff, product_category=category,
        product_risk_level=risk, sale_time=f"{day}T{at}+08:00", **sidecar)
    if checks is not None:
        report["checks"] = [{"id": c, "status": s, "severity": "critical",
                             "message": f"{c}: {s}", "evidence": []}
                            for c, s in checks.items()]
    return store_recording(store, media, side, report)
