"""face.both_visible: seller and customer identifiable through the sale.

"录像中应可明确辨别银行员工和消费者面部特征" (银监办发〔2017〕110号): a face counts only when
identifiable (size, sharpness, light), and neither may be gone for long.
"""
from __future__ import annotations

from verifier.checks.face_key_moments import hold_intervals
from verifier.faces import ROLES
from verifier.intervals import false_runs
from verifier.report import CheckResult, fmt_time

ID = "face.both_visible"
SEVERITY = "critical"
NEEDS = ("frames",)


def run(ctx) -> CheckResult:
    frames = ctx.frames
    if not frames:
        return CheckResult(ID, "error", SEVERITY, "no video frames could be analysed")
    share_needed = float(ctx.threshold("faces", "required_share"))
    max_absence = float(ctx.threshold("faces", "max_absence_s"))
    min_evidence = float(ctx.threshold("faces", "min_evidence_s"))
    end_s = ctx.duration_s or frames[-1].t
    times = [f.t for f in frames]

    # Share of time, not of samples: the fast scan samples densely only where something
    # changes, so counting samples would over-weight the changes. Each sample stands for
    # the time until the next one (at most max_absence_s: a longer hole is unseen).
    holds = hold_intervals(frames, max_absence, end_s)
    seen = sum(b - a for a, b in holds)
    both_s = sum(b - a for f, (a, b) in zip(frames, holds) if all(f.present(r) for r in ROLES))
    share = (both_s / seen if seen > 1e-9 else
             sum(1 for f in frames if all(f.present(r) for r in ROLES)) / len(frames))
    evidence, findings = [], []
    for role in ROLES:
        runs = false_runs(times, [f.present(role) for f in frames], end_s)
        for start, stop, i, _ in runs:
            if stop - start >= min_evidence:
                evidence.append({"start_s": round(start, 2), "end_s": round(stop, 2),
                                 "role": role,
                                 "detail": f"{role} face not identifiable; {frames[i].describe()}"})
        longest = max(runs, key=lambda r: r[1] - r[0], default=None)
        if longest and longest[1] - longest[0] > max_absence:
            start, stop = longest[0], longest[1]
            findings.append(f"{role} face not visible for {stop - start:.1f} s "
                            f"({fmt_time(start)}-{fmt_time(stop)})")
    if share < share_needed:
        findings.append(f"both faces identifiable in {share:.0%} of the recording "
                        f"(required {share_needed:.0%})")
    evidence.sort(key=lambda e: e["start_s"])
    if findings:
        return CheckResult(ID, "fail", SEVERITY, "; ".join(findings), evidence)
    return CheckResult(ID, "pass", SEVERITY,
                       f"both faces identifiable in {share:.0%} of the recording",
                       evidence)
