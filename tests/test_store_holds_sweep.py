"""Legal holds and the retention sweep: media is purged only after its retention date
and never under a hold; the tombstone keeps metadata, hash and findings."""
import json
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from sqlalchemy import select
from typer.testing import CliRunner

from pipelines.cli import app
from storage.ingest import store_recording
from storage.models import AuditEntry, LegalHold, PurgeRecord, Recording, VaultObject
from storage.retention import place_hold, release_hold, sweep

runner = CliRunner()


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def ingest(store, make_recording, rid, **kw):
    media, sidecar, report = make_recording(rid, **kw)
    return store_recording(store, media, sidecar, report, actor="tester")


# sale 2019-01-10, matures 2019-07-10: kept until 2020-01-10.
OLD = dict(sale_time="2019-01-10T10:00:00+08:00", maturity_date="2019-07-10")


def test_hold_placed_and_released(store, make_recording):
    ingest(store, make_recording, "OLD1", **OLD)
    vault_file = store.vault.path_of(store_media_sha(store, "OLD1"))
    assert vault_file.is_file()

    r = cli("hold", "OLD1", "--case", "CASE-2026-17", "--reason", "客户投诉：称未告知风险")
    assert r.exit_code == 0, r.output
    shown = json.loads(cli("show", "OLD1", "--json").stdout)
    [h] = shown["legal_holds"]
    assert h["case"] == "CASE-2026-17" and h["reason"].startswith("客户投诉")
    assert h["placed_at"] and h["released_at"] is None
    # the same case again is a no-op; a second case is a second hold
    assert cli("hold", "OLD1", "--case", "CASE-2026-17", "--reason", "again").exit_code == 0
    assert cli("hold", "OLD1", "--case", "REG-9", "--reason", "regulator request").exit_code == 0

    r = cli("retention", "sweep", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["held"] == ["OLD1"] and out["purged"] == [] and vault_file.is_file()

    assert cli("release", "OLD1", "--case", "CASE-2026-17").exit_code == 0
    out = json.loads(cli("retention", "sweep", "--json").stdout)
    assert out["held"] == ["OLD1"], "one hold is still active"

    assert cli("release", "OLD1", "--case", "REG-9", "--reason", "closed").exit_code == 0
    out = json.loads(cli("retention", "sweep", "--json").stdout)
    assert out["purged"] == ["OLD1"] and out["held"] == [] and out["kept"] == 0
    assert not vault_file.exists()

    shown = json.loads(cli("show", "OLD1", "--json").stdout)
    assert shown["media_present"] is False and shown["purged_at"]
    assert all(h["released_at"] for h in shown["legal_holds"])
    # the tombstone: metadata, hash, verdict and findings stay
    assert shown["sha256"] and shown["verdict"] == "pass"
    assert [c["id"] for c in shown["report"]["checks"]] == ["media.readable", "speech.required"]
    with store.session() as s:
        actions = [e.action for e in s.scalars(select(AuditEntry).where(
            AuditEntry.recording_id == "OLD1").order_by(AuditEntry.id))]
        [purge] = s.scalars(select(PurgeRecord)).all()
        assert purge.retention_until == date(2020, 1, 10) and purge.bytes_removed == 4096
    assert actions.count("hold") == 2 and actions.count("release") == 2
    assert actions.index("purge") > max(i for i, a in enumerate(actions) if a == "release")
    # integrity still holds: a purged recording's media is not expected in the vault
    assert cli("integrity", "--json").exit_code == 0


def store_media_sha(store, rid):
    with store.session() as s:
        return s.scalars(select(Recording.sha256).where(Recording.recording_id == rid)).one()


def test_release_without_hold_and_unknown_recording_are_bad_input(store, make_recording):
    ingest(store, make_recording, "R1")
    r = cli("release", "R1", "--case", "NOPE")
    assert r.exit_code == 2 and "no active legal hold" in r.stderr
    r = cli("hold", "MISSING", "--case", "C", "--reason", "x")
    assert r.exit_code == 2 and "no recording 'MISSING'" in r.stderr
    assert cli("hold", "R1", "--case", "C", "--reason", "  ").exit_code == 2


def test_sweep_never_runs_ahead_and_dry_run_changes_nothing(store, make_recording):
    ingest(store, make_recording, "FUT", sale_time="2026-01-10T10:00:00+08:00",
           maturity_date="2026-07-10")
    future = (date.today() + timedelta(days=400)).isoformat()
    r = cli("retention", "sweep", "--as-of", future)
    assert r.exit_code == 2 and "in the future" in r.stderr
    r = cli("retention", "sweep", "--as-of", "2099-01-01", "--dry-run", "--json")
    assert r.exit_code == 0
    out = json.loads(r.stdout)
    assert out == {"as_of": "2099-01-01", "dry_run": True, "purged": ["FUT"], "held": [],
                   "kept": 0, "bytes_removed": 0, "errors": []}
    shown = json.loads(cli("show", "FUT", "--json").stdout)
    assert shown["media_present"] is True
    assert cli("retention", "sweep", "--as-of", "2026-13-01").exit_code == 2


def test_open_ended_product_is_never_purged_before_redemption(store, make_recording):
    ingest(store, make_recording, "OPEN", sale_time="2000-01-10T10:00:00+08:00",
           maturity_date=None)
    out = sweep(store, date.today(), actor="tester")
    assert out.purged == [] and out.kept == 1


def test_shared_media_survives_until_its_last_recording_is_purged(store, make_recording):
    blob = b"same bytes in two recordings" * 100
    ingest(store, make_recording, "A", media_bytes=blob, **OLD)
    ingest(store, make_recording, "B", media_bytes=blob, sale_time="2026-01-10T10:00:00+08:00",
           maturity_date="2026-07-10")
    sha = store_media_sha(store, "A")
    out = sweep(store, date(2021, 1, 1), today=date(2021, 1, 1), actor="tester")
    assert out.purged == ["A"]
    assert store.vault.exists(sha), "B still needs the file"
    with store.session() as s:
        assert s.get(VaultObject, sha).state == "present"


def test_purged_recording_is_not_ingested_again(store, make_recording):
    from storage.db import BadInput

    media, sidecar, report = make_recording("GONE", **OLD)
    store_recording(store, media, sidecar, report, actor="tester")
    assert sweep(store, actor="tester").purged == ["GONE"]
    with pytest.raises(BadInput, match="purged"):
        store_recording(store, media, sidecar, report, actor="tester")
    assert not store.vault.exists(report["sha256"])


def test_interrupted_purge_is_finished_by_the_next_sweep(store, make_recording, monkeypatch):
    ingest(store, make_recording, "HALF", **OLD)
    sha = store_media_sha(store, "HALF")
    original = type(store.vault).delete

    def refuse(self, s):
        raise OSError("disk went away")

    monkeypatch.setattr(type(store.vault), "delete", refuse)
    with pytest.raises(OSError):
        sweep(store, actor="tester")
    monkeypatch.setattr(type(store.vault), "delete", original)
    with store.session() as s:
        assert s.get(VaultObject, sha).state == "deleting"
    assert store.vault.exists(sha)
    out = sweep(store, actor="tester")
    assert out.purged == [] and not store.vault.exists(sha)
    with store.session() as s:
        assert s.get(VaultObject, sha).state == "deleted"


# ------------------------------------------------------------------ property: never early,
# never under a hold. Random sale/maturity dates, holds placed and released, sweeps on
# random days, all in one store; every purge ever made is then checked.

recording = st.fixed_dictionaries({
    "sale": st.dates(min_value=date(2015, 1, 1), max_value=date(2024, 12, 31)),
    "term": st.one_of(st.none(), st.integers(min_value=0, max_value=6 * 366)),
    "category": st.sampled_from(["wealth", "agency_fund", "agency_insurance"]),
    "hold": st.sampled_from(["none", "active", "released"]),
})


@hsettings(max_examples=25, deadline=None,
           suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(batch=st.lists(recording, min_size=1, max_size=4),
       as_of=st.dates(min_value=date(2015, 6, 1), max_value=date.today()))
def test_property_nothing_purged_early_or_under_hold(store, make_recording, batch, as_of):
    counter = test_property_nothing_purged_early_or_under_hold.__dict__
    for spec in batch:
        counter["n"] = counter.get("n", 0) + 1
        rid = f"P{counter['n']:05d}"
        maturity = (spec["sale"] + timedelta(days=spec["term"])).isoformat() \
            if spec["term"] is not None else None
        ingest(store, make_recording, rid, sale_time=f"{spec['sale']}T09:30:00+08:00",
               maturity_date=maturity, product_category=spec["category"])
        if spec["hold"] != "none":
            place_hold(store, rid, "CASE-" + rid, "dispute", actor="tester")
        if spec["hold"] == "released":
            release_hold(store, rid, "CASE-" + rid, actor="tester")
    result = sweep(store, as_of, today=date.today(), actor="tester")

    with store.session() as s:
        recs = {r.id: r for r in s.scalars(select(Recording))}
        holds = list(s.scalars(select(LegalHold)))
        for p in s.scalars(select(PurgeRecord)):
            rec = recs[p.recording_pk]
            # never early: the retention date had passed on the sweep's day
            assert rec.retention_until is not None and rec.retention_until < p.as_of
            assert p.retention_until == rec.retention_until
            # never under a hold: every hold of this recording placed before the purge
            # had been released before it
            for h in holds:
                if h.recording_pk == rec.id and h.placed_at <= p.purged_at:
                    assert h.released_at is not None and h.released_at <= p.purged_at
        for r in recs.values():
            active = [h for h in holds if h.recording_pk == r.id and h.released_at is None]
            due = r.retention_until is not None and r.retention_until < as_of
            if r.recording_id in result.purged:
                assert due and not active and not r.media_present
            if r.media_present and due and not active:
                raise AssertionError(f"{r.recording_id} was due and unheld but kept")
            if r.media_present:
                assert store.vault.exists(r.sha256)
            else:
                assert not store.vault.exists(r.sha256)
