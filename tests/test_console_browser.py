"""The console in a real browser: Debian's chromium driven by Playwright, against a
real `uvicorn` serving a store with a real, playable recording.

Scenarios (issue 11): search a spoken phrase and open the hit (the video plays within
1 s of it); click a finding on the timeline (the player seeks there); review a sample
member from the queue (the review shows in the statistics); a viewer has no export
button and gets 403 on the export URL. A failing test leaves a screenshot in
test-artifacts/console/ (DUALREC_SCREENSHOT_DIR); the README's two screenshots are
taken here too.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DEMO_MP4 = REPO / "samples" / "demo" / "demo-customer-left.mp4"
CHROMIUM = os.environ.get("DUALREC_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(os.environ.get("DUALREC_SCREENSHOT_DIR", REPO / "test-artifacts" / "console"))
# As the probe of this machine found: no background connections (the network is closed).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--autoplay-policy=no-user-gesture-required"]

PHRASE = "理财非存款产品有风险"
PHRASE_AT = 22.9
ABSENCE = (25.0, 40.0)
SALE_DAY = "2026-11-21"


def _report(recording_id: str, media: bytes, meta: dict) -> dict:
    return {
        "schema": "dualrec.report/1", "recording_id": recording_id,
        "sha256": hashlib.sha256(media).hexdigest(), "duration_s": 65.6, "verdict": "fail",
        "error": None,
        "checks": [
            {"id": "media.readable", "status": "pass", "severity": "critical",
             "message": "video and audio decode", "evidence": []},
            {"id": "face.both_visible", "status": "fail", "severity": "critical",
             "message": "customer face not visible for 15.0 s (00:00:25-00:00:40)",
             "evidence": [{"start_s": ABSENCE[0], "end_s": ABSENCE[1], "role": "customer",
                           "detail": "customer face not identifiable; 1 identifiable face"}]},
            {"id": "speech.required", "status": "pass", "severity": "critical",
             "message": "all required phrases found", "evidence": [],
             "items": [{"id": "not-deposit", "found": True, "start_s": PHRASE_AT,
                        "end_s": 36.9, "heard": "理财非存款产品有风险投资须谨慎", "score": 0.97}]},
        ],
        "transcript": [
            {"start_s": 0.9, "end_s": 8.9, "speaker": "staff",
             "text": "您好，我是本行理财经理王芳，这是我的工作证。"},
            {"start_s": PHRASE_AT, "end_s": 36.9, "speaker": "staff",
             "text": "产品期限180天，理财非存款，产品有风险，投资须谨慎。"},
            {"start_s": 46.6, "end_s": 54.2, "speaker": "customer", "text": "是的，我已经阅读。"},
        ],
        "ruleset": {"id": "wealth-standard", "version": "2026.12"},
        "engine": {"version": "0.1.0", "asr_model": "whisper-base-offline",
                   "face_detector": "yunet-2023mar"},
        "metadata": meta,
        "timeline": {"sample_fps": 2.0,
                     "faces": {"staff": [[0.0, 65.6]],
                               "customer": [[0.0, ABSENCE[0]], [ABSENCE[1], 65.6]],
                               "extra": []}},
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    """A store with two branches' recordings, three accounts and a sample, served by a
    real uvicorn process."""
    from samples.make_samples import sidecar_dict
    from storage.db import open_store
    from storage.ingest import store_recording
    from storage.sampling import Plan, draw
    from verifier.config import load_settings
    from console.accounts import add_user

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium "
                    "(apt-get install chromium)")
    root = tmp_path_factory.mktemp("console")
    env = {**os.environ, "DUALREC_DATA_DIR": str(root / "data")}
    env.pop("DUALREC_DB_URL", None)
    old = os.environ.get("DUALREC_DATA_DIR")
    os.environ["DUALREC_DATA_DIR"] = env["DUALREC_DATA_DIR"]
    try:
        store = open_store(load_settings())
        media = DEMO_MP4.read_bytes()
        for rid, branch in (("BR001-20261121-0001", "BR001"), ("BR002-20261121-0001", "BR002")):
            meta = sidecar_dict(rid, branch_id=branch, sale_time=f"{SALE_DAY}T10:35:00+08:00")
            (root / f"{rid}.mp4").write_bytes(media)
            (root / f"{rid}.json").write_text(json.dumps(meta, ensure_ascii=False), "utf-8")
            store_recording(store, root / f"{rid}.mp4", root / f"{rid}.json",
                            _report(rid, media, meta))
        passwords = {name: add_user(store, name, role, branches, actor="test")[1]
                     for name, role, branches in (("wang", "auditor", []),
                                                  ("li", "viewer", ["BR001"]),
                                                  ("zhao", "legal", []))}
        sample = draw(store, Plan.from_settings(load_settings(), date(2026, 11, 1),
                                                date(2026, 11, 30), branch=["BR001"],
                                                seed="7", name="2026-11 BR001"), actor="wang")
        store.close()
    finally:
        if old is None:
            os.environ.pop("DUALREC_DATA_DIR", None)
        else:
            os.environ["DUALREC_DATA_DIR"] = old
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "console.serve:app", "--factory",
                             "--host", "127.0.0.1", "--port", str(port)],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
                proc.kill()
                pytest.fail(f"the console did not start:\n{out}")
            time.sleep(0.2)
    yield {"url": url, "passwords": passwords, "sample": sample["sample_id"],
           "data_dir": env["DUALREC_DATA_DIR"]}
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    # A refused inline script or style is logged as a console error; HTTP statuses
    # ("Failed to load resource") are the tests' own business.
    pg.on("console", lambda m: errors.append(m.text)
          if m.type == "error" and "Failed to load resource" not in m.text else None)
    yield pg
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        SHOTS.mkdir(parents=True, exist_ok=True)
        shot = SHOTS / f"FAILED-{request.node.name}.png"
        pg.screenshot(path=str(shot), full_page=True)
        print(f"screenshot of the failure: {shot}; browser errors: {errors}")
    context.close()
    # The console's own scripts never fail (a CSP violation is a console error too).
    assert not errors, errors


def login(page, console, name: str, then: str = "/") -> None:
    page.goto(console["url"] + then)
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", console["passwords"][name])
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "/login" not in page.url, page.content()[:2000]


def video_time(page) -> float:
    page.wait_for_function("() => document.querySelector('#player').readyState >= 1")
    return page.evaluate("document.querySelector('#player').currentTime")


def screenshot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=str(SHOTS / name))


def test_search_a_spoken_phrase_and_play_the_hit(page, console):
    login(page, console, "wang")
    page.goto(console["url"] + "/recordings")
    page.fill("input[name=text]", PHRASE)
    page.click("form.filters button[type=submit]")
    hits = page.locator("tr.hit a.seek-link")
    assert hits.count() == 2  # one per branch: the auditor sees every branch
    first = hits.first
    assert first.inner_text().strip().endswith("00:00:22")
    first.click()
    page.wait_for_url(re.compile(r"/recordings/BR00\d-20261121-0001\?t=22"))
    page.wait_for_function(f"() => Math.abs(document.querySelector('#player').currentTime - "
                           f"{int(PHRASE_AT)}) < 1")
    page.evaluate("document.querySelector('#player').play()")
    page.wait_for_function("() => !document.querySelector('#player').paused && "
                           "document.querySelector('#player').currentTime > 22.05")
    t = page.evaluate("(() => { const v = document.querySelector('#player'); v.pause(); "
                      "return v.currentTime; })()")
    assert abs(t - PHRASE_AT) < 1, t


def test_clicking_a_finding_on_the_timeline_seeks_the_player(page, console):
    login(page, console, "wang", "/recordings/BR001-20261121-0001")
    assert video_time(page) < 1
    page.locator(".timeline .lane-finding rect.span.fail").first.click()
    page.wait_for_function(f"() => Math.abs(document.querySelector('#player').currentTime - "
                           f"{ABSENCE[0]}) < 0.5")
    # The absence is drawn on the customer's face lane too, and the transcript line
    # seeks as well.
    assert page.locator(".timeline rect.span.absent").count() == 1
    page.locator(".transcript li a.seek").nth(2).click()
    page.wait_for_function("() => Math.abs(document.querySelector('#player').currentTime - 46.6) < 0.5")
    page.locator(".timeline .lane-finding rect.span.fail").first.click()
    page.wait_for_timeout(300)
    screenshot(page, "recording.png")


def test_review_a_sample_member_from_the_queue_shows_in_stats(page, console):
    login(page, console, "wang", f"/samples/{console['sample']}/review")
    assert page.locator("#player").count() == 1
    page.check("input[name=decision][value=fail]")
    page.fill("textarea[name=reason]", "客户离席15秒，关键时刻未在镜头前")
    page.locator("details:has(input[name='finding:face.both_visible'])").locator(
        "summary").click()
    page.check("input[name='finding:face.both_visible'][value=agree]")
    screenshot(page, "review-queue.png")
    page.click(".review-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "/samples/" in page.url and "/review" in page.url
    page.goto(console["url"] + f"/reports?from=2026-11-01&to=2026-11-30")
    reviewed = page.locator(".card:has-text('reviewed') b").inner_text()
    assert reviewed == "1"
    assert "face.both_visible" in page.locator("section:has(h2:has-text('Checks against'))"
                                               ).inner_text()
    page.goto(console["url"] + f"/samples/{console['sample']}")
    assert "fail by wang" in page.content()


def test_viewer_has_no_export_button_and_is_refused_the_export(page, console):
    login(page, console, "li", "/recordings/BR001-20261121-0001")
    assert page.locator("#player").count() == 1
    assert page.locator("#export-button").count() == 0
    assert page.locator("form[action$='/export']").count() == 0
    response = page.goto(console["url"] + "/recordings/BR001-20261121-0001/export")
    assert response.status == 403
    # Another branch's recording does not exist for this viewer.
    response = page.goto(console["url"] + "/recordings/BR002-20261121-0001")
    assert response.status == 404
    # Customer data never reaches a viewer's page; the legal role has it in clear.
    page.goto(console["url"] + "/recordings/BR001-20261121-0001")
    assert "李晓梅" not in page.content() and "李**" in page.content()


def test_legal_downloads_the_evidence_package(page, console, tmp_path):
    import zipfile

    login(page, console, "zhao", "/recordings/BR001-20261121-0001")
    assert "李晓梅" in page.content()
    with page.expect_download() as dl:
        page.click("#export-button")
    path = tmp_path / "evidence.zip"
    dl.value.save_as(path)
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        sums = z.read("evidence/SHA256SUMS").decode()
        for line in sums.splitlines():
            digest, name = line.split(maxsplit=1)
            assert hashlib.sha256(z.read("evidence/" + name.lstrip("*"))).hexdigest() == digest
    assert any(n.endswith(".mp4") for n in names)
