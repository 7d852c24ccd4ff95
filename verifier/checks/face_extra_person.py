"""face.extra_person: no third person in the sales area for long.

The sale is recorded in a marked sales area (销售专区, 银监办发〔2017〕110号) between the
seller and the customer; the customer's privacy must be protected, and a third person
standing by (a "helper" coaching the answers, another customer) is what inspectors look
for (DOMAIN.md "What peers offer": third persons). Someone walking past the booth is
not a finding: only a third identifiable face present longer than allowed, in one
continuous stretch or in total, fails.
"""
from __future__ import annotations

from verifier.intervals import false_runs
from verifier.report import CheckResult, fmt_time

ID = "face.extra_person"
SEVERITY = "major"
NEEDS = ("frames",)


def run(ctx) -> CheckResult:
    frames = ctx.frames
    if not frames:
        return CheckResult(ID, "error", SEVERITY, "no video frames could be analysed")
    max_continuous = float(ctx.threshold("faces", "extra_person_max_continuous_s"))
    max_total = float(ctx.threshold("faces", "extra_person_max_total_s"))
    min_evidence = float(ctx.threshold("faces", "min_evidence_s"))
    end_s = ctx.duration_s or frames[-1].t
    times = [f.t for f in frames]
    flags = [bool(f.others) for f in frames]

    # Measured like face.both_visible's absences: a run lasts from its first sample
    # with a third face to the next sample without one (so a third face only in the
    # very last sample lasts no time).
    spans = [r for r in false_runs(times, [not f for f in flags], end_s) if r[1] > r[0]]
    runs = [(a, b) for a, b, _, _ in spans]
    total = sum(b - a for a, b in runs)
    longest = max(runs, key=lambda r: r[1] - r[0], default=None)
    evidence = []
    for start, stop, first, last in spans:
        # Short glimpses are listed only when they add up to a finding.
        if stop - start < min_evidence and total <= max_total:
            continue
        seen = frames[first:last + 1]
        most = max(len(f.others) for f in seen)
        eye = max(g.eye_distance_px for f in seen for g in f.others)
        evidence.append({
            "start_s": round(start, 2), "end_s": round(stop, 2),
            "detail": f"{most} third face{'s' if most > 1 else ''} identifiable for "
                      f"{stop - start:.1f} s (largest eye distance {eye:.0f} px)"
                      + ("; longer than allowed" if stop - start > max_continuous else "")})

    findings = []
    if longest and longest[1] - longest[0] > max_continuous:
        a, b = longest
        findings.append(f"a third person in frame for {b - a:.1f} s continuously "
                        f"({fmt_time(a)}-{fmt_time(b)}; allowed {max_continuous:g} s)")
    if total > max_total:
        findings.append(f"a third person in frame for {total:.1f} s in total in "
                        f"{len(runs)} stretch(es) (allowed {max_total:g} s)")
    if findings:
        return CheckResult(ID, "fail", SEVERITY, "; ".join(findings), evidence)
    if runs:
        return CheckResult(ID, "pass", SEVERITY,
                           f"a third face only briefly: {total:.1f} s in total, longest "
                           f"{longest[1] - longest[0]:.1f} s (allowed {max_continuous:g} s "
                           f"continuous, {max_total:g} s in total)", evidence)
    return CheckResult(ID, "pass", SEVERITY, "no third person in frame", evidence)
