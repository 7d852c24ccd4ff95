"""The console's access log: what each request writes into the hash-chained audit log
(storage/audit.py), with the user as actor and the client's address (and session) in
the details: a recording page viewed, a stream started (once per session and file),
a search (the customer masked), a review, a hold and its release, an export (the zip
holds the evidence), and every refusal. The chain stays valid."""
from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pytest

from storage.ingest import store_recording
from tests.console_helpers import (chain_ok, last_audit_id, audit_entries, logged_in,
                                   make_app, make_recording_factory, new_session)


@pytest.fixture
def setup(store, tmp_path):
    """R1 (BR001, separate audio) and R2 (BR002); viewer (BR001), auditor, legal."""
    make = make_recording_factory(tmp_path)
    meta = {}
    for rid, branch in (("R1", "BR001"), ("R2", "BR002")):
        media, side, report, m = make(rid, verdict="fail", branch_id=branch,
                                      customer_id=f"11010119900101{branch[-1]}23X",
                                      audio_bytes=b"RIFF" + bytes(2044),
                                      transcript=[(1.0, 3.0, "staff", "理财非存款")])
        store_recording(store, media, side, report, actor="ingest-test")
        meta[rid] = m | {"media": media.read_bytes()}
    app = make_app(store)
    users = {name: logged_in(app, store, name, role, branches) for name, role, branches in
             (("vic", "viewer", ["BR001"]), ("aud", "auditor", []), ("leg", "legal", []))}
    return app, users, meta


def _new(store, since):
    entries = audit_entries(store, since=since)
    for e in entries:  # every entry of a console request says where it came from
        assert e["details"]["via"] == "console" and e["details"]["client"], e
    return entries


def test_page_views_and_streams(store, setup):
    app, users, meta = setup
    vic = users["vic"]
    before = last_audit_id(store)
    assert vic.get("/recordings/R1").status_code == 200
    [view] = _new(store, before)
    assert (view["actor"], view["action"], view["recording_id"]) == ("vic", "view", "R1")
    assert view["details"]["client"] == vic.address and view["details"]["session"]

    # a stream: one entry per session and file, however many ranges the player asks
    before = last_audit_id(store)
    for rng in ("bytes=0-", "bytes=100-199", "bytes=-10", "bytes=0-0"):
        assert vic.get("/recordings/R1/media", headers={"range": rng}).status_code == 206
    assert vic.get("/recordings/R1/media").status_code == 200
    assert vic.get("/recordings/R1/audio").status_code == 200
    assert vic.get("/recordings/R1/audio", headers={"range": "bytes=5-"}).status_code == 206
    streams = _new(store, before)
    assert [(e["actor"], e["action"], e["recording_id"], e["details"]["file"],
             e["details"]["range"]) for e in streams] == [
        ("vic", "stream", "R1", "media", "bytes=0-"), ("vic", "stream", "R1", "audio", None)]
    assert streams[0]["details"]["client"] == vic.address
    # another session of the same user is a new viewing
    second = new_session(app, store, "vic", address="10.7.7.7")
    before = last_audit_id(store)
    assert second.get("/recordings/R1/media").status_code == 200
    [again] = _new(store, before)
    assert again["action"] == "stream" and again["details"]["client"] == "10.7.7.7"
    assert again["details"]["session"] != streams[0]["details"]["session"]
    chain_ok(store)


def test_searches_are_logged_with_the_customer_masked(store, setup):
    app, users, meta = setup
    vic = users["vic"]
    cid = meta["R1"]["customer_id"]
    before = last_audit_id(store)
    assert vic.get("/recordings").status_code == 200  # the plain list is not a search
    assert _new(store, before) == []
    # The filter form posts; the list's URL carries the ID's keyed hash, never the ID.
    r = vic.post("/recordings", {"customer": cid, "text": "理财"})
    assert r.status_code == 303 and cid not in r.headers["location"]
    assert f"ck={store.customer_key(cid)}" in r.headers["location"]
    r = vic.get(r.headers["location"])
    assert r.status_code == 200 and "R1" in r.text and cid not in r.text
    # another branch's customer: found nowhere for this viewer; an ID in a GET (a
    # script, an old link) is moved out of the URL first
    r2 = vic.get(f"/recordings?customer={meta['R2']['customer_id']}")
    assert r2.status_code == 303 and meta["R2"]["customer_id"] not in r2.headers["location"]
    r2 = vic.get(r2.headers["location"])
    assert "/recordings/R2" not in r2.text
    first, second = _new(store, before)
    assert (first["actor"], first["action"]) == ("vic", "search")
    crit = first["details"]["criteria"]
    assert crit["customer_key"] == store.customer_key(cid)[:12] and crit["text"] == "理财"
    assert "customer" not in crit
    assert crit["branches"] == ["BR001"]  # the scope is part of what was asked
    assert first["details"]["recording_ids"] == ["R1"]
    assert second["details"]["recording_ids"] == []
    for e in (first, second):
        text = json.dumps(e, ensure_ascii=False)
        assert cid not in text and meta["R2"]["customer_id"] not in text
        assert e["details"]["client"] == vic.address
    chain_ok(store)


def test_review_hold_release_and_export(store, setup):
    app, users, meta = setup
    aud, leg = users["aud"], users["leg"]
    before = last_audit_id(store)
    r = aud.post("/recordings/R1/review", {"decision": "pass", "reason": "heard it myself",
                                           "finding:speech.required": "disagree"})
    assert r.status_code == 303 and r.headers["location"] == "/recordings/R1?note=reviewed"
    r = leg.post("/recordings/R1/hold", {"case": "CASE-9", "reason": "complaint"})
    assert r.status_code == 303
    r = leg.post("/recordings/R1/release", {"case": "CASE-9", "reason": "settled"})
    assert r.status_code == 303
    r = leg.post("/recordings/R1/export")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert 'filename="evidence-R1.zip"' in r.headers["content-disposition"]
    entries = _new(store, before)
    assert [(e["actor"], e["action"], e["recording_id"]) for e in entries] == [
        ("aud", "review", "R1"), ("leg", "hold", "R1"), ("leg", "release", "R1"),
        ("leg", "export", "R1")]
    assert entries[0]["details"]["decision"] == "pass"
    assert entries[0]["details"]["findings"] == [
        {"check_id": "speech.required", "machine_status": "fail", "agree": False}]
    assert entries[1]["details"]["case"] == "CASE-9"
    assert [e["details"]["client"] for e in entries] == [aud.address] + [leg.address] * 3

    # the package: the original media, the sidecar in clear, the audit trail, checksums
    z = zipfile.ZipFile(io.BytesIO(r.content))
    names = z.namelist()
    media = [n for n in names if n.startswith("evidence/media/") and n.endswith(".mp4")]
    assert len(media) == 1 and z.read(media[0]) == meta["R1"]["media"]
    assert "evidence/SHA256SUMS" in names and "evidence/audit.jsonl" in names
    sums = dict(line.split("  ")[::-1] for line in
                z.read("evidence/SHA256SUMS").decode().splitlines())
    for name, digest in sums.items():
        assert hashlib.sha256(z.read("evidence/" + name)).hexdigest() == digest, name
    sidecar = next(n for n in names if n.endswith("/R1.json"))
    assert json.loads(z.read(sidecar))["customer_id"] == meta["R1"]["customer_id"]
    trail = [json.loads(x) for x in z.read("evidence/audit.jsonl").decode().splitlines()]
    assert trail[-1]["action"] == "export" and trail[-1]["actor"] == "leg"
    # nothing is left behind in the data folder's tmp
    tmp = store.data_dir / "tmp"
    assert not any(tmp.iterdir()) if tmp.exists() else True
    chain_ok(store)


def test_refusals_are_logged(store, setup):
    app, users, meta = setup
    vic, aud = users["vic"], users["aud"]
    before = last_audit_id(store)
    assert vic.get("/recordings/R2").status_code == 404
    assert vic.get("/recordings/R2/media").status_code == 404
    assert vic.post("/recordings/R1/export").status_code == 403
    assert vic.get("/admin/audit").status_code == 403
    assert aud.post("/recordings/R1/hold", {"case": "X", "reason": "y"}).status_code == 403
    assert aud.post("/recordings/R1/review", {"decision": "pass", "reason": "x",
                                              "csrf_token": "forged"}).status_code == 403
    denied = _new(store, before)
    assert [(e["actor"], e["action"], e["details"]["why"], e["details"]["detail"],
             e["details"]["path"]) for e in denied] == [
        ("vic", "denied", "no such recording in scope", "R2", "/recordings/R2"),
        ("vic", "denied", "no such recording in scope", "R2", "/recordings/R2/media"),
        ("vic", "denied", "forbidden", "export", "/recordings/R1/export"),
        ("vic", "denied", "forbidden", "audit_log", "/admin/audit"),
        ("aud", "denied", "forbidden", "hold", "/recordings/R1/hold"),
        ("aud", "denied", "forbidden", "csrf", "/recordings/R1/review")]
    assert [e["details"]["client"] for e in denied] == [vic.address] * 4 + [aud.address] * 2
    # a refused request did nothing: no view of R2 was logged, no hold placed
    assert not [e for e in audit_entries(store, "view", since=before)]
    assert not audit_entries(store, "hold", since=before)
    chain_ok(store)


@pytest.mark.parametrize("target,lands", [
    ("/samples/1/review?i=1", "/samples/1/review?i=1"),
    ("//evil.example/", "/recordings/R1?note=reviewed"),
    ("/\\evil.example", None),  # kept, but percent-encoded: a path on this console
    ("https://evil.example/", "/recordings/R1?note=reviewed"),
])
def test_a_review_only_leads_back_into_the_console(store, setup, target, lands):
    from urllib.parse import urlsplit

    app, users, meta = setup
    r = users["aud"].post("/recordings/R1/review",
                          {"decision": "fail", "reason": "x", "next": target})
    where = r.headers["location"]
    assert r.status_code == 303 and (lands is None or where == lands)
    assert where.startswith("/") and not where.startswith("//") and "\\" not in where
    assert not urlsplit(where).netloc


def test_the_audit_page_verifies_the_chain_on_demand(store, setup):
    """Without ?verify=1 the page says how the last integrity check found the chain
    (walking millions of entries on every view would not do); with it, the chain is
    walked now and an edited entry is named."""
    from sqlalchemy import select

    from storage.integrity import check
    from storage.models import AuditEntry
    from tests.console_helpers import logged_in

    app, users, meta = setup
    root = logged_in(app, store, "root", "admin")
    assert "has not been verified yet" in root.get("/admin/audit").text
    check(store, actor="root")
    page = root.get("/admin/audit").text
    assert "At the last integrity check" in page and "was intact" in page
    assert "verified now: intact" in root.get("/admin/audit?verify=1").text
    with store.session() as s:
        first = s.scalars(select(AuditEntry).order_by(AuditEntry.id).limit(1)).one()
        first.actor = "someone-else"
    page = root.get("/admin/audit?verify=1").text
    assert "verified now: BROKEN" in page and f"entry {first.id}" in page
