"""Audit samples: which recordings a person should look at (issue 6).

A sample covers the sales of a period (``sale_date`` from..to, inclusive) in a scope
(branches, staff, product categories, products). Its members are:

- every recording whose machine verdict is in ``always_verdicts`` (fail, review,
  error): reason ``verdict``;
- every sale of a product at or above ``high_risk_from`` (R4: some policies require
  100% review of high-risk products): reason ``high-risk``;
- of the others (mostly ``pass``), a random share per stratum (branch, staff, product
  category, risk level, or what ``strata`` names) to measure what the machine misses:
  ``rate`` of the stratum rounded up, or ``size`` per stratum: reason ``random``.

The draw is reproducible: candidates are sorted by recording id, strata by their key,
and each stratum is drawn with its own ``random.Random(f"{seed}|{stratum}")`` (string
seeds hash the same on every run and platform), so a recording added to one stratum
does not change what another draws. The seed, the parameters and the members are
stored; a drawn sample is never changed, and drawing again under a used name is
refused. ``members_sha256`` (in the ``sample`` audit entry too) lets anyone check that
the member list is the one drawn.
"""
from __future__ import annotations

import hashlib
import math
import random
import secrets
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Sequence

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage import audit
from storage.db import BadInput, NotFound, Store, current_actor
from storage.models import AuditSample, Recording, ReviewDecision, Sample, utcnow
from storage.query import iso

REASONS = ("verdict", "high-risk", "random")
STRATA = {"branch": Recording.branch_id, "staff": Recording.staff_id,
          "product_category": Recording.product_category,
          "product_risk_level": Recording.product_risk_level,
          "product": Recording.product_code}
VERDICTS = ("pass", "fail", "review", "error")
RISK_LEVELS = ("R1", "R2", "R3", "R4", "R5")


@dataclass
class Plan:
    """What to draw. ``from_settings`` fills what is not given from the ``audit``
    thresholds section (configs/thresholds/audit.yaml)."""

    date_from: date
    date_to: date
    branch: list[str] = field(default_factory=list)
    staff: list[str] = field(default_factory=list)
    product_category: list[str] = field(default_factory=list)
    product: list[str] = field(default_factory=list)
    rate: float | None = None
    size: int | None = None
    strata: list[str] = field(default_factory=list)
    high_risk_from: str | None = "R4"
    always_verdicts: list[str] = field(default_factory=lambda: ["fail", "review", "error"])
    seed: str | None = None
    name: str | None = None

    @classmethod
    def from_settings(cls, settings, date_from: date, date_to: date, *,
                      rate: float | None = None, size: int | None = None,
                      strata: Sequence[str] | None = None, high_risk_from: str | None = None,
                      always_verdicts: Sequence[str] | None = None, **kw) -> "Plan":
        cfg = (getattr(settings, "thresholds", None) or {}).get("audit", {})
        if rate is None and size is None:
            rate = cfg.get("pass_rate", 0.05)
        hr = high_risk_from if high_risk_from is not None else cfg.get("high_risk_from", "R4")
        return cls(date_from=date_from, date_to=date_to, rate=rate, size=size,
                   strata=list(strata if strata is not None else
                               cfg.get("strata", list(STRATA)[:4])),
                   high_risk_from=None if str(hr).lower() in ("off", "none", "") else str(hr),
                   always_verdicts=list(always_verdicts if always_verdicts is not None else
                                        cfg.get("always_verdicts", ["fail", "review", "error"])),
                   **kw)

    def validate(self) -> None:
        if self.date_from is None or self.date_to is None:
            raise BadInput("a sample needs a period: --from and --to")
        if self.date_from > self.date_to:
            raise BadInput(f"--from {self.date_from} is after --to {self.date_to}")
        if (self.rate is None) == (self.size is None):
            raise BadInput("give either --rate or --size, not both")
        if self.rate is not None and not 0 <= self.rate <= 1:
            raise BadInput(f"--rate must be between 0 and 1, got {self.rate}")
        if self.size is not None and self.size < 0:
            raise BadInput(f"--size must be 0 or more, got {self.size}")
        unknown = [s for s in self.strata if s not in STRATA]
        if unknown:
            raise BadInput(f"--per: unknown stratum {', '.join(unknown)} "
                           f"(choose from {', '.join(STRATA)})")
        if len(set(self.strata)) != len(self.strata):
            raise BadInput("--per names a stratum twice")
        if self.high_risk_from is not None and self.high_risk_from not in RISK_LEVELS:
            raise BadInput(f"--high-risk-from must be R1..R5 or off, got {self.high_risk_from!r}")
        bad = [v for v in self.always_verdicts if v not in VERDICTS]
        if bad:
            raise BadInput(f"always_verdicts: unknown verdict {', '.join(bad)}")
        if self.name is not None and not self.name.strip():
            raise BadInput("--name must not be empty")
        if self.name is not None and len(self.name) > 128:
            raise BadInput("--name is longer than 128 characters")
        if self.seed is not None and not 0 < len(str(self.seed)) <= 64:
            raise BadInput("--seed must be 1 to 64 characters")

    def scope(self) -> dict[str, list[str]]:
        return {k: sorted(v) for k, v in (("branch", self.branch), ("staff", self.staff),
                                          ("product_category", self.product_category),
                                          ("product", self.product)) if v}

    def parameters(self) -> dict[str, Any]:
        return {"rate": self.rate, "size": self.size, "strata": list(self.strata),
                "high_risk_from": self.high_risk_from,
                "always_verdicts": list(self.always_verdicts)}


@dataclass(frozen=True)
class Candidate:
    pk: int
    recording_id: str
    run_id: int | None
    verdict: str | None
    product_risk_level: str
    stratum: str


@dataclass(frozen=True)
class Member:
    candidate: Candidate
    reason: str


def _risk(level: str | None) -> int:
    return RISK_LEVELS.index(level) + 1 if level in RISK_LEVELS else 0


def per_stratum(n: int, rate: float | None, size: int | None) -> int:
    """How many of a stratum's `n` remaining recordings are drawn: ``rate`` rounded up
    (computed in decimal, so 0.1 x 30 is 3, not 4), or ``size``, at most `n`."""
    if size is not None:
        return min(size, n)
    return min(n, math.ceil(Decimal(str(rate)) * n))


def candidates(s: Session, plan: Plan) -> list[Candidate]:
    """Recordings sold in the period and scope that have been verified, by recording id."""
    conds = [Recording.sale_date >= plan.date_from, Recording.sale_date <= plan.date_to,
             Recording.current_run_id.is_not(None)]
    for values, column in ((plan.branch, Recording.branch_id), (plan.staff, Recording.staff_id),
                           (plan.product_category, Recording.product_category),
                           (plan.product, Recording.product_code)):
        if values:
            conds.append(column.in_(values))
    cols = [STRATA[k] for k in plan.strata]
    rows = s.execute(select(Recording.id, Recording.recording_id, Recording.current_run_id,
                            Recording.verdict, Recording.product_risk_level, *cols)
                     .where(*conds).order_by(Recording.recording_id))
    out = []
    for row in rows:
        key = "|".join(f"{k}={row[5 + i]}" for i, k in enumerate(plan.strata)) or "all"
        out.append(Candidate(row[0], row[1], row[2], row[3], row[4], key))
    return out


def select_members(cands: Sequence[Candidate], plan: Plan, seed: str) -> list[Member]:
    """The draw itself: a pure function of the sorted candidates, the plan and the seed."""
    cands = sorted(cands, key=lambda c: c.recording_id)
    members: list[Member] = []
    strata: dict[str, list[Candidate]] = {}
    floor = _risk(plan.high_risk_from) if plan.high_risk_from else None
    for c in cands:
        if c.verdict in plan.always_verdicts:
            members.append(Member(c, "verdict"))
        elif floor is not None and _risk(c.product_risk_level) >= floor:
            members.append(Member(c, "high-risk"))
        else:
            strata.setdefault(c.stratum, []).append(c)
    for key in sorted(strata):
        pool = strata[key]
        k = per_stratum(len(pool), plan.rate, plan.size)
        rng = random.Random(f"{seed}|{key}")
        members += [Member(c, "random") for c in rng.sample(pool, k)]
    return sorted(members, key=lambda m: m.candidate.recording_id)


def members_digest(rows: Sequence[tuple]) -> str:
    """sha256 of the member list: (recording_id, run_id, verdict, reason, stratum) rows
    sorted by recording id, as canonical JSON."""
    body = audit.canonical_json(sorted([list(r) for r in rows], key=lambda r: r[0]))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _member_row(m: Member) -> tuple:
    c = m.candidate
    return (c.recording_id, c.run_id, c.verdict, m.reason, c.stratum)


def default_name(plan: Plan, seed: str) -> str:
    scope = ",".join(plan.branch) if plan.branch else "all branches"
    return f"{plan.date_from}..{plan.date_to} {scope} seed {seed}"[:128]


def draw(store: Store, plan: Plan, actor: str | None = None) -> dict[str, Any]:
    """Draw a sample, store it with its members and write the ``sample`` audit entry,
    all in one transaction. Returns what :func:`show` returns."""
    plan.validate()
    actor = actor or current_actor()
    seed = str(plan.seed) if plan.seed is not None else str(secrets.randbelow(10 ** 9))
    name = (plan.name or default_name(plan, seed)).strip()
    try:
        with store.session() as s:
            _refuse_used_name(s, name)
            cands = candidates(s, plan)
            members = select_members(cands, plan, seed)
            rows = [_member_row(m) for m in members]
            sample = Sample(name=name, seed=seed, period_start=plan.date_from,
                            period_end=plan.date_to, scope=plan.scope(),
                            parameters=plan.parameters(), population=len(cands),
                            size=len(members), members_sha256=members_digest(rows),
                            drawn_by=actor, drawn_at=utcnow())
            s.add(sample)
            s.flush()
            s.add_all(AuditSample(sample_id=sample.id, recording_pk=m.candidate.pk,
                                  run_id=m.candidate.run_id, verdict=m.candidate.verdict,
                                  reason=m.reason, stratum=m.candidate.stratum)
                      for m in members)
            audit.append(s, actor, "sample", None, {
                "sample_id": sample.id, "name": name, "seed": seed,
                "period": {"from": iso(plan.date_from), "to": iso(plan.date_to)},
                "scope": sample.scope, "parameters": sample.parameters,
                "population": len(cands), "size": len(members),
                "by_reason": _count_reasons(m.reason for m in members),
                "members_sha256": sample.members_sha256})
            sample_id = sample.id
    except IntegrityError:  # the same name drawn concurrently
        raise BadInput(f"a sample named {name!r} already exists; samples never change: "
                       "choose another --name") from None
    return show(store, str(sample_id), log_it=False)


def _refuse_used_name(s: Session, name: str) -> None:
    old = s.scalars(select(Sample).where(Sample.name == name)).first()
    if old is not None:
        raise BadInput(f"a sample named {name!r} was drawn on {old.drawn_at:%Y-%m-%d %H:%M} "
                       f"UTC by {old.drawn_by} (id {old.id}, seed {old.seed}); samples "
                       "never change: choose another --name")


def _count_reasons(reasons) -> dict[str, int]:
    out = {r: 0 for r in REASONS}
    for r in reasons:
        out[r] += 1
    return out


def get_sample(s: Session, ref: str) -> Sample:
    """A sample by id (digits) or by name."""
    ref = str(ref).strip()
    sample = s.get(Sample, int(ref)) if ref.isdigit() else None
    if sample is None:
        sample = s.scalars(select(Sample).where(Sample.name == ref)).first()
    if sample is None:
        raise NotFound(f"no sample {ref!r} in the store (dualrec sample list)")
    return sample


def _header(sample: Sample, reviewed: int) -> dict[str, Any]:
    return {"sample_id": sample.id, "name": sample.name, "seed": sample.seed,
            "period": {"from": iso(sample.period_start), "to": iso(sample.period_end)},
            "scope": sample.scope, "parameters": sample.parameters,
            "population": sample.population, "size": sample.size, "reviewed": reviewed,
            "members_sha256": sample.members_sha256, "drawn_by": sample.drawn_by,
            "drawn_at": iso(sample.drawn_at)}


def _latest_reviews(s: Session, sample: Sample) -> dict[int, ReviewDecision]:
    """Per member recording, its latest review made since the sample was drawn (with
    or without --sample: what matters is that a person looked after the draw)."""
    rows = s.scalars(select(ReviewDecision)
                     .join(AuditSample, AuditSample.recording_pk == ReviewDecision.recording_pk)
                     .where(AuditSample.sample_id == sample.id,
                            ReviewDecision.decided_at >= sample.drawn_at)
                     .order_by(ReviewDecision.id))
    return {r.recording_pk: r for r in rows}


def show(store: Store, ref: str, actor: str | None = None, log_it: bool = True) -> dict[str, Any]:
    """A sample: its parameters, members (masked customer) and their review state;
    ``intact`` says whether the stored members still hash to ``members_sha256``."""
    actor = actor or current_actor()
    with store.session() as s:
        sample = get_sample(s, ref)
        rows = s.execute(select(AuditSample, Recording)
                         .join(Recording, Recording.id == AuditSample.recording_pk)
                         .where(AuditSample.sample_id == sample.id)
                         .order_by(Recording.recording_id)).all()
        reviews = _latest_reviews(s, sample)
        members = []
        for m, rec in rows:
            r = reviews.get(rec.id)
            members.append({
                "recording_id": rec.recording_id, "sale_date": iso(rec.sale_date),
                "branch_id": rec.branch_id, "staff_id": rec.staff_id,
                "product_code": rec.product_code, "product_category": rec.product_category,
                "product_risk_level": rec.product_risk_level,
                "customer_id": rec.customer_id_masked, "run_id": m.run_id,
                "verdict": m.verdict, "reason": m.reason, "stratum": m.stratum,
                "review": ({"decision": r.decision, "reviewer": r.reviewer,
                            "decided_at": iso(r.decided_at)} if r else None)})
        digest = members_digest([(x["recording_id"], x["run_id"], x["verdict"], x["reason"],
                                  x["stratum"]) for x in members])
        out = _header(sample, sum(1 for x in members if x["review"]))
        out["by_reason"] = _count_reasons(x["reason"] for x in members)
        out["intact"] = digest == sample.members_sha256 and len(members) == sample.size
        out["members"] = members
        if log_it:
            audit.append(s, actor, "view", None, {"what": "sample", "sample_id": sample.id,
                                                  "name": sample.name})
    return out


def list_samples(store: Store) -> dict[str, Any]:
    with store.session() as s:
        samples = list(s.scalars(select(Sample).order_by(Sample.id)))
        reviewed: dict[int, int] = {}
        for sample in samples:
            reviewed[sample.id] = len(_latest_reviews(s, sample))
        return {"samples": [_header(x, reviewed[x.id]) for x in samples]}


def member_count(s: Session, sample_id: int, recording_pk: int) -> int:
    return s.execute(select(func.count()).select_from(AuditSample).where(
        AuditSample.sample_id == sample_id, AuditSample.recording_pk == recording_pk)).scalar()


def render_sample(d: dict[str, Any]) -> str:
    p = d["parameters"]
    share = f"rate {p['rate']}" if p.get("rate") is not None else f"size {p['size']}"
    scope = ", ".join(f"{k} {'/'.join(v)}" for k, v in d["scope"].items()) or "everything"
    lines = [f"sample {d['sample_id']} {d['name']!r}: {d['size']} of {d['population']} "
             f"recordings, {d['reviewed']} reviewed",
             f"  period      {d['period']['from']} .. {d['period']['to']}   scope {scope}",
             f"  drawn       {d['drawn_at']} by {d['drawn_by']}, seed {d['seed']}",
             f"  rule        always {'/'.join(p['always_verdicts'])}; high risk from "
             f"{p['high_risk_from'] or 'off'}; random {share} per "
             f"{', '.join(p['strata']) or 'sample'}",
             "  members     " + ", ".join(f"{k} {v}" for k, v in d.get("by_reason", {}).items())
             + ("" if d.get("intact", True) else "   WARNING: members changed since the draw")]
    rows = [("RECORDING", "SALE DATE", "BRANCH", "STAFF", "PRODUCT", "RISK", "VERDICT",
             "WHY", "REVIEW")]
    for m in d.get("members", []):
        rv = m["review"]
        rows.append((m["recording_id"], m["sale_date"], m["branch_id"], m["staff_id"],
                     m["product_code"], m["product_risk_level"], m["verdict"] or "-",
                     m["reason"], f"{rv['decision']} by {rv['reviewer']}" if rv else "pending"))
    if len(rows) > 1:
        widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            lines.append("  " + "  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip())
    return "\n".join(lines)


def render_list(d: dict[str, Any]) -> str:
    if not d["samples"]:
        return "no samples drawn yet (dualrec sample draw)"
    rows = [("ID", "NAME", "PERIOD", "SIZE", "OF", "REVIEWED", "SEED", "DRAWN BY", "DRAWN AT")]
    for x in d["samples"]:
        rows.append((x["sample_id"], x["name"], f"{x['period']['from']}..{x['period']['to']}",
                     x["size"], x["population"], x["reviewed"], x["seed"], x["drawn_by"],
                     x["drawn_at"][:16]))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip()
                     for r in rows)
