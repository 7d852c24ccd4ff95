"""speech.risk_level: the product's risk level said aloud is the sidecar's
`product_risk_level`, and a customer whose tolerance is below it heard the mismatch
warning (DOMAIN.md "The script": "states the customer's risk assessment result and the
product's risk level (R1-R5) and whether they match"; 适当性: a product above the
customer's tolerance needs an explicit warning and the customer's confirmation).

The level is read however whisper writes it: R3, R三, 三级, 阿尔三级, 阿山 / 二三 after
等级为, 三级风险, 属于中风险 (R1 低 … R5 高). A level counts as the product's when the
words before it name the product (本产品, 这款, 基金, 保险) more recently than the
customer (您, 承受能力, 评估); other levels heard ("R1到R3的产品") are listed only.
Customer levels: C3, C三, 西三级 and the tolerance words (稳健型 = C3; the table is
`speech.customer_level_words`).
"""
from __future__ import annotations

import re
from dataclasses import replace

from verifier.checks.speech_confirmation import evaluate_all, evidence_of
from verifier.phrase_match import find_phrase
from verifier.report import CheckResult, fmt_time
from verifier.textnorm import CUSTOMER_LEVEL_WORDS, normalize, pinyin_tokens, risk_level_mentions

ID = "speech.risk_level"
SEVERITY = "critical"
NEEDS = ("transcript",)

LOOKBACK = 16  # characters before a level searched for whose level it is
_PRODUCT = re.compile(r"产品|基金|保险|本款|这款|该款|此款|这个款")
_CUSTOMER = re.compile(r"您|承受能力|评估|客户")
# "与您的风险承受能力相匹配" said to a customer below the product's level is untrue.
# Matched by sound: whisper writes 相匹配 as 相比配 (pi pei / bi pei).
_MATCH_CLAIM_SOUNDS = (("pi", "pei"), ("bi", "pei"), ("xiang", "fu"), ("shi", "he", "nin"))
_NEGATED = re.compile(r"[不未非没无]")
# What makes a sentence the mismatch warning rather than a claim that it matches.
_MISMATCH_CUE = re.compile(r"低于|高于|超出|超过|不匹配|不相匹配|不符|不适合")


def _threshold(ctx, key, default):
    try:
        value = ctx.threshold("speech", key)
    except Exception:
        return default
    return default if value is None else value


def _level(value, prefix: str) -> int | None:
    text = str(value or "").strip().upper()
    if len(text) == 2 and text[0] == prefix and text[1] in "12345":
        return int(text[1])
    return None


def mentions(transcript, customer_words) -> list[dict]:
    """Every risk level heard in the seller's (or mixed) speech, with its time and whose
    level the words before it make it."""
    segs = [s for s in transcript if s.speaker in ("staff", "unknown")]
    norms = [normalize(s.text) for s in segs]
    text, owner = "", []
    for k, n in enumerate(norms):
        text += n
        owner += [k] * len(n)
    out = []
    for kind, level, a, b, heard in risk_level_mentions(text, customer_words):
        before = text[max(0, a - LOOKBACK) : a]
        p = max((m.end() for m in _PRODUCT.finditer(before)), default=-1)
        c = max((m.end() for m in _CUSTOMER.finditer(before)), default=-1)
        whose = "product" if p > c else "customer" if c > p else "unclear"
        seg = segs[owner[a]]
        first = owner.index(owner[a])
        n = norms[owner[a]]
        t = seg.start_s + (seg.end_s - seg.start_s) * (a - first) / max(1, len(n))
        out.append({"kind": kind, "level": f"{kind}{level}", "n": level, "heard": heard,
                    "context": text[max(0, a - 10) : b + 6], "whose": whose,
                    "start_s": round(t, 3), "segment_start_s": seg.start_s,
                    "segment_end_s": seg.end_s})
    return out


def _product_item(ctx, heard: list[dict], expected: int) -> dict:
    said = ctx.ruleset.risk_level.said
    want = f"R{expected}"
    product = [h for h in heard if h["kind"] == "R" and h["whose"] == "product"]
    other = [h for h in heard if h["kind"] == "R" and h["whose"] != "product"]
    item = {"id": "product-level", "check": "product_level", "expected": want,
            "heard": [{k: h[k] for k in ("level", "heard", "context", "whose", "start_s")}
                      for h in product + other]}

    def show(h):
        return f"{h['level']} ({h['heard']!r} at {fmt_time(h['start_s'])})"

    right = [h for h in product if h["n"] == expected]
    wrong = [h for h in product if h["n"] != expected]
    if right and not wrong:
        item.update(decision="pass", why=f"said {show(right[0])}")
    elif wrong and not right:
        item.update(decision="fail", why=f"said {show(wrong[0])}, but the product is {want}")
    elif wrong:
        item.update(decision="review", why=f"said both {show(right[0])} and {show(wrong[0])}")
    elif any(h["n"] == expected for h in other):
        h = next(h for h in other if h["n"] == expected)
        item.update(decision="review" if said == "required" else "pass",
                    why=f"{show(h)} heard, but not clearly as the product's level "
                        f"({h['context']!r})")
    elif said == "optional":
        item.update(decision="pass", why="the product's risk level was not said (optional "
                                         "in this ruleset)")
    else:
        near = _statement_heard(ctx)
        if near is not None:
            item.update(decision="review",
                        why=f"the level statement was heard ({near.heard!r} at "
                            f"{fmt_time(near.start_s)}, score {near.score:.2f}) but no "
                            "risk level could be read in it")
        else:
            item.update(decision="fail", why=f"the product's risk level ({want}) was not said")
    return item


def _statement_heard(ctx):
    """The ruleset's phrase that states the product's level (本产品风险等级为…), if it
    was found or nearly found."""
    for _, phrase, m in ctx.required_matches():
        text = normalize("".join(phrase.texts))
        if (("风险等级" in text or "风险评级" in text) and _PRODUCT.search(text)
                and (m.found or m.near_miss)):
            return m
    return None


def _customer_item(ctx, heard: list[dict], customer: int | None) -> dict | None:
    said = [h for h in heard if h["kind"] == "C"]
    if customer is None:
        return None
    item = {"id": "customer-level", "check": "customer_level", "expected": f"C{customer}",
            "heard": [{k: h[k] for k in ("level", "heard", "context", "start_s")} for h in said]}
    wrong = [h for h in said if h["n"] != customer]
    if wrong and not any(h["n"] == customer for h in said):
        h = wrong[0]
        item.update(decision="review",
                    why=f"the seller stated the customer's level as {h['level']} "
                        f"({h['heard']!r} at {fmt_time(h['start_s'])}); the sidecar says "
                        f"C{customer}")
    elif said:
        item.update(decision="pass", why=f"C{customer} stated ({said[0]['heard']!r} at "
                                         f"{fmt_time(said[0]['start_s'])})")
    else:
        item.update(decision="pass", why=f"C{customer} from the sidecar (not heard as a level)")
    return item


def match_claims(norm: str) -> list[tuple[int, int]]:
    """Where a normalised text says "matches" (匹配, 相符, 适合您; also as whisper's
    homophones), not negated (不相匹配), as (start, end) character spans."""
    tokens = pinyin_tokens(norm)
    sounds = [t[0] for t in tokens]
    out = []
    for seq in _MATCH_CLAIM_SOUNDS:
        n = len(seq)
        for i in range(len(sounds) - n + 1):
            if tuple(sounds[i : i + n]) == seq:
                a, b = tokens[i][1], tokens[i + n - 1][2]
                if not _NEGATED.search(norm[max(0, a - 3) : a]):
                    out.append((a, b))
    return sorted(out)


def _claims_match(heard: str) -> str | None:
    """The un-negated claim that the product matches the customer's tolerance in a
    normalised window (与您的风险承受能力相匹配), if any."""
    if not heard or "承受能力" not in heard or _MISMATCH_CUE.search(heard):
        return None
    claims = match_claims(heard)
    if not claims:
        return None
    a, b = claims[0]
    return heard[max(0, a - 6) : b]


def _better_question(ctx, q) -> str | None:
    """The id of a script confirmation whose question matched the same words better."""
    if not q.found:
        return None
    for _, conf, m in ctx.question_matches():
        if (m.found and m.score > q.score and m.start_s < q.end_s
                and q.start_s < m.end_s):
            return conf.id
    return None


def _mismatch_items(ctx, customer: int, product: int) -> list[dict]:
    rule = ctx.ruleset.risk_mismatch
    found_score = float(ctx.threshold("speech", "found_score"))
    review_score = float(ctx.threshold("speech", "review_score"))
    head = f"customer C{customer} is below product R{product}"
    if rule is None:
        return [{"check": "mismatch", "id": "mismatch", "decision": "review",
                 "why": f"{head}, and the ruleset defines no mismatch disclosure to look for"}]
    items = []
    for phrase in rule.required:
        m = find_phrase(ctx.transcript, phrase.texts, found_score=found_score,
                        review_score=review_score,
                        speaker=None if phrase.speaker == "any" else phrase.speaker,
                        phrase_id=phrase.id)
        claim = _claims_match(m.heard) if m.found else None
        if claim:
            # 本产品风险等级为R3级，与您的风险承受能力相匹配 sounds much like the warning
            # 本产品风险等级高于您的风险承受能力 (fuzzy score 0.79), but says the opposite.
            m = replace(m, found=False, near_miss=False,
                        note=f"the best candidate claims a match ({claim!r}): not the warning")
        if m.found:
            decision, why = "pass", f"said at {fmt_time(m.start_s)}"
        elif m.near_miss:
            decision, why = "review", f"near miss at {fmt_time(m.start_s)} (score {m.score:.2f})"
        else:
            decision = "fail" if phrase.critical else "review"
            why = f"{head}: the mismatch warning was not said"
        if m.note:
            why += f"; {m.note}"
        heard = m.found or m.near_miss
        items.append({"check": "mismatch", "id": phrase.id, "expected": phrase.text,
                      "found": m.found, "near_miss": m.near_miss,
                      "heard": (m.heard or None) if heard else None,
                      "start_s": m.start_s if heard else None,
                      "end_s": m.end_s if heard else None, "score": round(m.score, 3),
                      "decision": decision, "why": why})
    if rule.confirmations:
        pairs = []
        for conf in rule.confirmations:
            q = find_phrase(ctx.transcript, conf.texts, found_score=found_score,
                            review_score=review_score, speaker="staff", phrase_id=conf.id)
            other = _better_question(ctx, q)
            if other is not None:
                # 您是否仍然坚持购买本产品 scores 0.75 on 您是否确认自愿购买本产品…: the words
                # heard are the script's own question, which matched them better.
                q = replace(q, found=False, near_miss=False,
                            note=f"the best candidate is the {other} question")
            pairs.append(("risk_mismatch", conf, q))
        for it in evaluate_all(ctx, pairs):
            it["check"] = "mismatch_confirmation"
            items.append(it)
    # Telling a customer below the product's level that it matches is untrue.
    for seg in ctx.transcript:
        if seg.speaker == "customer":
            continue
        norm = normalize(seg.text)
        if match_claims(norm) and "承受能力" in norm:
            items.append({"check": "mismatch_claim", "id": "mismatch-claim", "heard": norm,
                          "start_s": seg.start_s, "end_s": seg.end_s, "decision": "review",
                          "why": f"{head}, yet the seller said it matches ({norm!r} at "
                                 f"{fmt_time(seg.start_s)})"})
            break
    return items


def run(ctx) -> CheckResult:
    product = _level(getattr(ctx.sidecar, "product_risk_level", None), "R")
    customer = _level(getattr(ctx.sidecar, "customer_risk_level", None), "C")
    words = _threshold(ctx, "customer_level_words", None) or CUSTOMER_LEVEL_WORDS
    words = {str(k): int(str(v).upper().lstrip("C")) for k, v in words.items()}
    heard = mentions(ctx.transcript, words)
    items = []
    if product is None:
        return CheckResult(ID, "skipped", SEVERITY, "not run: the sidecar has no "
                           "product_risk_level", [], [])
    items.append(_product_item(ctx, heard, product))
    cust = _customer_item(ctx, heard, customer)
    if cust:
        items.append(cust)
    mismatch = customer is not None and customer < product
    if mismatch:
        items += _mismatch_items(ctx, customer, product)

    for i in items:
        i.setdefault("status", i["decision"])
        if "start_s" not in i:
            heard_at = [h["start_s"] for h in i.get("heard") or [] if isinstance(h, dict)]
            i["start_s"] = i["end_s"] = heard_at[0] if heard_at else None
    evidence = [{"start_s": h["start_s"], "end_s": h["segment_end_s"],
                 "detail": f"{h['whose']} level {h['level']} heard as {h['heard']!r}"}
                for h in heard]
    evidence += [{"start_s": i["start_s"], "end_s": i.get("end_s") or i["start_s"],
                  "detail": f"{i['id']}: {i['why']}"}
                 for i in items if i.get("start_s") is not None and i["check"].startswith("mismatch")
                 and "question" not in i]
    evidence += evidence_of([i for i in items if i["check"] == "mismatch_confirmation"])
    evidence.sort(key=lambda e: e["start_s"])

    failed = [i for i in items if i["decision"] == "fail"]
    review = [i for i in items if i["decision"] == "review"]
    tag = f" (customer C{customer} below product R{product}: mismatch disclosure " \
          "required)" if mismatch else ""
    if failed:
        return CheckResult(ID, "fail", SEVERITY,
                           "; ".join(_label(i) for i in failed) + tag, evidence, items)
    if review:
        return CheckResult(ID, "review", SEVERITY,
                           "; ".join(_label(i) for i in review) + tag, evidence, items)
    return CheckResult(ID, "pass", SEVERITY, items[0]["why"] + (
        "; mismatch disclosure given" if mismatch else ""), evidence, items)


def _label(item: dict) -> str:
    return f"{item['id']}: {item['why']}"
