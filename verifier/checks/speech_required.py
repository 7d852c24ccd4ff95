"""speech.required: every required script phrase was said (风险提示, DOMAIN.md "The script").

Whisper mishears; phrases are matched on characters and toneless pinyin, and a near miss
goes to a person instead of passing. A window that sounds like the phrase but reverses
it (理财是存款 for 理财非存款) is at most a near miss, and its item says why (`note`);
slots (`我是理财经理{name}`) report what filled them (`slots`).
"""
from __future__ import annotations

from verifier.report import CheckResult

ID = "speech.required"
SEVERITY = "critical"
NEEDS = ("transcript",)


def run(ctx) -> CheckResult:
    items, missing_critical, uncertain = [], [], []
    for stage, phrase, m in ctx.required_matches():
        items.append({
            "id": phrase.id, "stage": stage.id, "critical": phrase.critical,
            "found": m.found, "near_miss": m.near_miss,
            "start_s": m.start_s, "end_s": m.end_s, "heard": m.heard,
            "score": round(m.score, 3), "expected": phrase.text, "matched": m.matched,
        })
        if m.note:
            items[-1]["note"] = m.note
        if m.slots:
            items[-1]["slots"] = m.slots
        if m.found:
            continue
        if phrase.critical and not m.near_miss:
            missing_critical.append(phrase.id)
        else:
            uncertain.append(phrase.id + (" (near miss)" if m.near_miss else ""))
    evidence = [{"start_s": i["start_s"], "end_s": i["end_s"],
                 "detail": f"{i['id']}: heard {i['heard']!r} (score {i['score']:.2f})"
                           + (f"; {i['note']}" if i.get("note") else "")}
                for i in items if i["start_s"] is not None and (i["found"] or i["near_miss"])]
    total = len(items)
    found = sum(i["found"] for i in items)
    if missing_critical:
        msg = f"missing required phrase(s): {', '.join(missing_critical)}"
        if uncertain:
            msg += f"; uncertain: {', '.join(uncertain)}"
        return CheckResult(ID, "fail", SEVERITY, msg, evidence, items)
    if uncertain:
        return CheckResult(ID, "review", SEVERITY,
                           f"{found}/{total} phrases found; uncertain: {', '.join(uncertain)}",
                           evidence, items)
    return CheckResult(ID, "pass", SEVERITY, f"all {total} required phrases found",
                       evidence, items)
