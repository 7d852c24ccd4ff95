"""What the console's pages may show: no customer ID number or name for a masked role
(a crawl of every GET route and every link found, as viewer, auditor, admin and the
branch-limited users), the legal role sees them in clear on the recording page; a
customer ID never in a URL (the filter form posts it, the list's URL carries its keyed
hash); HTML in ids and echoed parameters escaped everywhere, action notes only fixed
sentences; no inline script or style; the security headers on every response; and no
traceback or store error's words ever reach the client."""
from __future__ import annotations

import html
import io
import json
import re
import zipfile
from html.parser import HTMLParser
from urllib.parse import parse_qs, quote, unquote, urlencode, urljoin, urlsplit

import pytest

from storage.db import StoreError
from tests.console_helpers import (TEXT, XSS_ATTR, XSS_BRANCH, XSS_SCRIPT, app_routes,
                                   chain_ok, client, search_form, world)  # noqa: F401

MASKED_USERS = ("viewer", "auditor", "admin", "auditor_br1")
MAX_PAGES = 120  # per user: the crawl follows links up to this many URLs


def seeds(w) -> dict[str, list[str]]:
    """URLs of every GET route (and the static mount), by route."""
    rids = list(w.recordings)
    return {
        "/login": ["/login", "/login?next=" + quote('/"><script>alert(1)</script>', safe="")],
        "/": ["/"],
        "/recordings": [
            "/recordings", "/recordings?text=" + quote(TEXT[:6]),
            "/recordings?staff=" + quote(XSS_SCRIPT), "/recordings?product=" + quote(XSS_ATTR),
            "/recordings?verdict=review&held=1&check=speech.required",
            "/recordings?from=2020-01-01&to=2099-12-31&branch=BR001"],
        "/recordings/{recording_id}": [f"/recordings/{r}" for r in rids] + [
            "/recordings/R1-XSS?t=2&note=" + quote(XSS_SCRIPT + XSS_ATTR)],
        "/recordings/{recording_id}/media": ["/recordings/R1-XSS/media"],
        "/recordings/{recording_id}/audio": ["/recordings/R1-PASS/audio"],
        "/recordings/{recording_id}/export": [f"/recordings/{r}/export" for r in rids],
        "/samples": ["/samples"],
        "/samples/{ref}": [f"/samples/{w.sample_id}", f"/samples/{w.sample_br2}"],
        "/samples/{ref}/review": [f"/samples/{w.sample_id}/review",
                                  f"/samples/{w.sample_br2}/review?i=1"],
        "/reports": ["/reports", "/reports?from=2020-01-01"],
        "/reports/download/{kind}": [f"/reports/download/report.{k}?from=2020-01-01"
                                     for k in ("csv", "html", "xlsx")],
        "/admin": ["/admin"],
        "/admin/audit": ["/admin/audit", "/admin/audit?recording=R1-PASS",
                         "/admin/audit?action=search", "/admin/audit?action=hold",
                         "/admin/audit?action=review"],
        "/static": ["/static/console.js", "/static/console.css"],
        # and a few that fail: error pages must not echo either
        "errors": ["/recordings/" + quote(XSS_SCRIPT, safe=""), "/samples/" + quote(XSS_ATTR),
                   "/reports?from=" + quote(XSS_SCRIPT), "/no-such-page"],
    }


class Page(HTMLParser):
    """Tags, attributes and links of a page, as a browser would parse them."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "link" and a.get("rel") == "icon" and a.get("href") == "data:,":
            return  # "no favicon" (img-src allows data:), not a link anywhere
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"event handler attribute {name}={value!r} on <{tag}>")
            if name == "style":
                self.problems.append(f"inline style on <{tag}>")
            if name in ("href", "src", "action", "formaction") and value and \
                    value.strip().lower().startswith(("javascript:", "data:", "vbscript:")):
                self.problems.append(f"{name}={value!r} on <{tag}>")
            if name in ("href", "src", "action") and value and (
                    value.startswith("//") or re.match(r"^[a-z][a-z0-9+.-]*:", value, re.I)):
                self.problems.append(f"a link off the console: {name}={value!r}")
        if tag == "script":
            src = a.get("src") or ""
            if not src.startswith("/static/"):
                self.problems.append(f"a script that is not the console's own: {a}")
        if tag in ("iframe", "object", "embed", "base", "img") and tag != "img":
            self.problems.append(f"<{tag}>")
        if tag == "img" and not (a.get("src") or "").startswith(("/static/", "data:image/")):
            self.problems.append(f"<img> from elsewhere: {a}")
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])

    def handle_data(self, data):
        if self.lasttag == "script" and data.strip():
            self.problems.append("inline script")


def check_headers(r, url: str) -> None:
    h = r.headers
    csp = {d.strip().split(" ", 1)[0]: d.strip() for d in h["content-security-policy"].split(";")}
    assert "'unsafe-inline'" not in csp["script-src"] and "'unsafe-eval'" not in csp["script-src"]
    assert csp["script-src"] == "script-src 'self'", url
    assert csp["default-src"] == "default-src 'none'"
    assert csp["frame-ancestors"] == "frame-ancestors 'none'"
    assert "'unsafe-inline'" not in csp["style-src"]
    assert h["x-frame-options"] == "DENY", url
    assert h["referrer-policy"] == "no-referrer", url
    assert h["x-content-type-options"] == "nosniff", url
    if not url.startswith("/static/"):
        assert h["cache-control"] == "no-store", url


def texts_of(r) -> list[str]:
    """The response as text(s) to search: an Excel file's XML parts unzipped."""
    ctype = r.headers.get("content-type", "")
    if "spreadsheetml" in ctype:
        z = zipfile.ZipFile(io.BytesIO(r.content))
        return [z.read(n).decode("utf-8", "replace") for n in z.namelist()]
    if ctype.startswith(("video/", "audio/")):
        return []
    return [r.text]


def crawl(b, w, start: list[str], skip_secret_check=lambda url: False):
    """Visit `start`, every console link found and every redirect's target (GET), up to
    MAX_PAGES; check every response, and that no redirect puts customer data in a URL.
    Returns {url: response}."""
    secrets = w.secrets()
    seen, queue, out = set(), list(start), {}
    problems = []
    while queue and len(seen) < MAX_PAGES:
        url = queue.pop(0)
        # a report file costs a second to write: each kind once (the seeds ask for the
        # widest period)
        key = urlsplit(url).path if url.startswith("/reports/download/") else url
        if key in seen:
            continue
        seen.add(key)
        r = b.get(url)
        out[url] = r
        check_headers(r, url)
        assert r.status_code < 500, (url, r.status_code, r.text[:300])
        location = r.headers.get("location", "") if r.is_redirect else ""
        if location:
            for secret in secrets:
                if secret in location or quote(secret) in location:
                    problems.append(f"{b.name}: {url}: customer data {secret!r} in the "
                                    f"redirect to {location}")
            if location.startswith("/") and not location.startswith("//") and \
                    location not in seen:
                queue.append(location)
        for text in texts_of(r):
            if not skip_secret_check(url):
                for secret in secrets:
                    as_json = json.dumps(secret)[1:-1]  # a name in an ASCII JSON dump
                    if secret in text or (as_json != secret and as_json in text):
                        problems.append(f"{b.name}: {url}: customer data {secret!r} in the page")
            if "html" in r.headers.get("content-type", "") or \
                    "json" in r.headers.get("content-type", ""):
                for raw in (XSS_SCRIPT, XSS_ATTR, "<img src=x", "<script>alert"):
                    if raw in text:
                        problems.append(f"{b.name}: {url}: unescaped {raw!r}")
                assert "Traceback" not in text and 'File "' not in text, url
        if "text/html" in r.headers.get("content-type", "") and not \
                r.headers.get("content-disposition"):
            p = Page()
            p.feed(r.text)
            problems += [f"{b.name}: {url}: {x}" for x in p.problems]
            for href in p.links:
                target = urljoin(url, href)
                parts = urlsplit(target)
                if parts.scheme or parts.netloc or not parts.path.startswith("/"):
                    continue
                if parts.path.startswith("/static/") or href.startswith("#"):
                    continue
                target = parts.path + (f"?{parts.query}" if parts.query else "")
                if target not in seen:
                    queue.append(target)
    assert not problems, "\n".join(problems[:40])
    return out


@pytest.fixture(scope="module")
def activity(world):
    """What puts personal data at risk of showing: a review and a hold whose reasons
    name the customer, searches by customer ID (through the form, as a browser does),
    a viewer streaming."""
    w = world
    r1 = w.recordings["R1-PASS"]
    cid, name = r1["customer_id"], r1["customer_name"]
    r = w.users["auditor"].post("/recordings/R1-PASS/review", {
        "decision": "fail", "reason": f"客户{name}（{cid}）未听清风险揭示",
        "finding:speech.required": "disagree"})
    assert r.status_code == 303
    r = w.users["legal"].post("/recordings/R1-PASS/hold", {
        "case": "CASE-P", "reason": f"投诉人{name}，身份证{cid}"})
    assert r.status_code == 303
    for u in ("viewer", "auditor"):
        _, found = search_form(w.users[u], customer=cid)
        assert found.status_code == 200 and "R1-PASS" in found.text
    assert w.users["viewer"].get("/recordings/R1-PASS/media").status_code == 200
    # an entry written by a caller that did not mask its free text (as place_hold did
    # before it masked reasons): the audit log cannot be changed, the page must mask it
    from storage import audit
    with w.store.session() as s:
        audit.append(s, "cli-user", "hold", "R1-FAIL",
                     {"case": "OLD-1", "reason": f"{w.recordings['R1-FAIL']['customer_name']} "
                                                 f"{w.recordings['R1-FAIL']['customer_id']}"})
    return w


def test_seeds_cover_every_get_route(world):
    gets = {p for m, p in app_routes(world.app) if m == "GET"} | {
        p for m, p in app_routes(world.app) if m == "MOUNT"}
    assert gets <= set(seeds(world)), gets - set(seeds(world))


@pytest.mark.parametrize("user", MASKED_USERS)
def test_no_customer_data_in_any_page(activity, user):
    w = activity
    start = [u for urls in seeds(w).values() for u in urls]
    cid = w.recordings["R1-PASS"]["customer_id"]
    ck = w.store.customer_key(cid)
    # a search by customer ID as the form sends it, and as an old link (redirected to
    # the same list without the ID; the crawl follows the redirect)
    by_form, _ = search_form(w.users[user], customer=cid, text=TEXT[:6])
    start += [by_form, f"/recordings?ck={ck}", f"/recordings?customer={cid}"]
    pages = crawl(w.users[user], w, start)
    ok = [u for u, r in pages.items() if r.status_code == 200]
    assert len(ok) >= 10, ok
    assert pages[f"/recordings?customer={cid}"].status_code == 303
    assert pages[f"/recordings?customer={cid}"].headers["location"] == f"/recordings?ck={ck}"
    if user == "viewer":
        # the viewer found its own branch's recording by customer ID, shown masked, and
        # the form says a customer is selected without showing which
        for url in (by_form, f"/recordings?ck={ck}"):
            found = pages[url].text
            assert "R1-PASS" in found and cid[:4] + "*" * 10 + cid[-4:] in found, url
            assert "selected by ID" in found and f'name="ck" value="{ck}" checked' in found
    if user == "admin":  # the audit log was crawled, with the entries above in it
        assert "CASE-P" in pages["/admin/audit?action=hold"].text
        searches = pages["/admin/audit?action=search"].text
        assert f'"customer_key": "{ck[:12]}"' in html.unescape(searches)
        assert ck not in searches  # 12 hex digits of it, not the whole key
    chain_ok(w.store)


@pytest.mark.parametrize("user", ("legal", "legal_br1"))
def test_legal_sees_the_customer_in_clear_on_the_recording_page(activity, user):
    w = activity
    r1 = w.recordings["R1-PASS"]
    page = w.users[user].get("/recordings/R1-PASS").text
    assert r1["customer_id"] in page and r1["customer_name"] in page
    # but lists and search show it masked, as for everyone (search_form checks the ID
    # is in neither the list's URL nor the page)
    by_form, found = search_form(w.users[user], customer=r1["customer_id"])
    assert "R1-PASS" in found.text
    for url in ("/recordings", by_form, "/"):
        text = w.users[user].get(url).text
        assert r1["customer_id"] not in text and r1["customer_name"] not in text, url
    # and the crawl of everything else is as clean (their pages are checked for HTML
    # and headers; the recording pages are allowed to show the customer)
    crawl(w.users[user], w, [u for urls in seeds(w).values() for u in urls],
          skip_secret_check=lambda url: re.match(r"^/recordings/[^/?]+(\?.*)?$", url)
          is not None)


def test_masked_roles_see_the_masked_customer(activity):
    w = activity
    r1 = w.recordings["R1-PASS"]
    page = w.users["viewer"].get("/recordings/R1-PASS").text
    cid = r1["customer_id"]
    assert f'<span class="customer">{cid[:4]}{"*" * 10}{cid[-4:]}</span>' in page
    assert r1["customer_name"][0] + "*" * (len(r1["customer_name"]) - 1) in page
    # the transcript said the name and the number: both masked there too
    assert "我叫" + r1["customer_name"][0] in page


# --------------------------------------------------------------------------- escaping


def test_html_in_ids_is_escaped(world):
    """What the sidecar validator lets into the staff id, product code and product name
    is shown as text, on the recording page, in lists, search and samples."""
    from verifier.sidecar import Sidecar, SidecarError

    meta = dict(world.recordings["R1-XSS"])
    assert meta["staff_id"] == XSS_SCRIPT and meta["product_name"] == XSS_ATTR
    # recording_id cannot carry HTML at all (a safe file name)
    with pytest.raises(SidecarError, match="recording_id"):
        Sidecar.from_dict({**meta, "recording_id": "R<script>"})
    escaped_script = html.escape(XSS_SCRIPT, quote=True)
    for user in ("viewer", "auditor", "legal"):
        b = world.users[user]
        for url in ("/recordings/R1-XSS", "/recordings", "/recordings?staff=" + quote(XSS_SCRIPT),
                    f"/samples/{world.sample_id}"):
            r = b.get(url)
            if r.status_code == 403:
                continue
            assert r.status_code == 200
            assert XSS_SCRIPT not in r.text and "<img src=x" not in r.text, (user, url)
            if url != f"/samples/{world.sample_id}":
                assert escaped_script in r.text or "&lt;script&gt;" in r.text, (user, url)


def test_html_in_a_branch_id_is_escaped(world):
    """The branch id is free text too; users of all branches see it on the dashboard,
    in lists, reports and the recording page."""
    escaped = html.escape(XSS_BRANCH, quote=True)
    for user, url in [("admin", "/"), ("admin", "/recordings"), ("admin", "/recordings/R3-XSS"),
                      ("auditor", "/reports?from=2020-01-01"), ("legal", "/recordings/R3-XSS")]:
        r = world.users[user].get(url)
        assert r.status_code == 200, (user, url)
        assert XSS_BRANCH not in r.text and "<script>alert" not in r.text, (user, url)
        assert escaped in r.text or html.escape(XSS_BRANCH, quote=False) in r.text, (user, url)


def test_echoed_parameters_are_escaped(world):
    """What the console still echoes from a URL or a form: the list's filters (in the
    form's boxes; a customer ID is no longer echoed, see below) and /login's next."""
    from markupsafe import escape

    b = world.users["viewer"]
    for name in ("text", "staff", "product", "check"):
        for payload in (XSS_SCRIPT, XSS_ATTR):
            url = f"/recordings?{name}=" + quote(payload)
            r = b.get(url)
            assert r.status_code == 200, url
            assert payload not in r.text and "<img src=x" not in r.text and \
                "<script>alert" not in r.text, url
            assert f'name="{name}" value="{escape(payload)}"' in r.text, url
    # the branch filter of a user of all branches
    r = world.users["admin"].get("/recordings?branch=" + quote(XSS_ATTR))
    assert r.status_code == 200 and XSS_ATTR not in r.text
    assert f'name="branch" value="{escape(XSS_ATTR)}"' in r.text
    # the same through the form: kept on the way to the list, escaped there
    location, r = search_form(b, text=XSS_SCRIPT, staff=XSS_ATTR, product=XSS_SCRIPT,
                              check=XSS_ATTR, verdict="fail", held="1")
    assert "<" not in location and '"' not in location and "verdict=fail" in location
    assert r.status_code == 200 and XSS_SCRIPT not in r.text and XSS_ATTR not in r.text
    for name, payload in (("text", XSS_SCRIPT), ("staff", XSS_ATTR),
                          ("product", XSS_SCRIPT), ("check", XSS_ATTR)):
        assert f'name="{name}" value="{escape(payload)}"' in r.text, name
    assert '<option value="fail" selected>' in r.text
    assert 'name="held" value="1" checked' in r.text
    anon = client(world.app, "10.0.0.98")
    r = anon.get("/login?next=" + quote('/x"><script>alert(1)</script>', safe=""))
    assert r.status_code == 200 and "<script>alert(1)" not in r.text
    assert 'value="/x&#34;&gt;&lt;script&gt;' in r.text


NOTES = {"reviewed": "Review recorded.", "held": "Legal hold placed.",
         "already-held": "This case already holds the recording.",
         "released": "Legal hold released."}


def test_an_action_note_is_a_code_never_words_from_the_link(world):
    """?note= names one of the fixed sentences an action returns with; anything else
    (HTML, the old free-text notes, words someone wants on the page) shows nothing."""
    from markupsafe import escape

    b = world.users["viewer"]
    for code, sentence in NOTES.items():
        r = b.get("/recordings/R1-PASS?note=" + quote(code))
        assert r.status_code == 200
        assert f'<p class="note" role="status">{sentence}</p>' in r.text, code
    phishing = "Your session expired: call 400-123-4567 with your password"
    for junk in (XSS_SCRIPT, XSS_ATTR, XSS_SCRIPT + XSS_ATTR, phishing, "review recorded",
                 "Review recorded.", "hold placed", "REVIEWED", " reviewed", "reviewed ",
                 "held&note=x", "__class__", "get", ""):
        r = b.get("/recordings/R1-PASS?note=" + quote(junk))
        assert r.status_code == 200, junk
        assert 'class="note"' not in r.text, junk
        assert XSS_SCRIPT not in r.text and "<img src=x" not in r.text, junk
        if junk.strip() and junk.strip().lower() not in ("reviewed", "get"):
            assert str(escape(junk)) not in r.text, junk
    # the note given twice: whichever counts, only a fixed sentence can show
    r = b.get("/recordings/R1-PASS?note=" + quote(XSS_SCRIPT) + "&note=held")
    assert r.status_code == 200 and str(escape(XSS_SCRIPT)) not in r.text
    notes = re.findall(r'<p class="note" role="status">([^<]*)</p>', r.text)
    assert notes in ([], [NOTES["held"]]), notes


# --------------------------------------------------------------------------- customer ID


def test_a_customer_id_never_travels_in_a_url(world):
    """The filter form posts the ID; the list's URL carries its keyed hash (ck=) and the
    other filters; an old link or a script's ?customer= is redirected to the same URL
    without the ID; the page says a customer is selected, never which."""
    v = world.users["viewer"]
    cid = world.recordings["R1-PASS"]["customer_id"]
    ck = world.store.customer_key(cid)
    masked = cid[:4] + "*" * 10 + cid[-4:]
    location, r = search_form(v, customer=cid, text=TEXT[:6], verdict="pass")
    assert parse_qs(urlsplit(location).query) == {"ck": [ck], "text": [TEXT[:6]],
                                                  "verdict": ["pass"]}, location
    listed = set(re.findall(r'href="/recordings/([^"?/]+)"', r.text))
    assert listed == {"R1-PASS"} and masked in r.text
    assert "selected by ID" in r.text and f'name="ck" value="{ck}" checked' in r.text
    assert 'name="customer"' not in r.text  # no box for the ID while one is selected
    # an ID written differently (lower case, spaces) is the same customer
    assert search_form(v, customer=f"  {cid.lower()} ")[0] == f"/recordings?ck={ck}"
    # the form again with the box kept: the same customer; unticked: the filter is gone
    assert search_form(v, ck=ck, text=TEXT[:6])[0] == "/recordings?" + urlencode(
        {"ck": ck, "text": TEXT[:6]})
    assert search_form(v, text=TEXT[:6])[0] == "/recordings?" + urlencode({"text": TEXT[:6]})
    assert search_form(v)[0] == "/recordings"
    # an old link or a script: moved out of the URL, the other filters kept
    for url in (f"/recordings?customer={cid}", f"/recordings?customer={quote(cid.lower())}",
                f"/recordings?customer={cid}&text={quote(TEXT[:6])}&verdict=pass",
                f"/recordings?ck={'0' * 64}&customer={cid}"):
        r = v.get(url)
        assert r.status_code == 303, url
        target = r.headers["location"]
        assert cid not in target and cid.lower() not in target, url
        q = parse_qs(urlsplit(target).query)
        assert q.pop("ck") == [ck], url
        assert q == ({"text": [TEXT[:6]], "verdict": ["pass"]} if "verdict" in url else {})
        page = v.get(target)
        assert page.status_code == 200 and "R1-PASS" in page.text and cid not in page.text
    # a later page keeps the customer selected, by its hash
    r = v.get(f"/recordings?ck={ck}&page=2")
    assert r.status_code == 200 and f'name="ck" value="{ck}" checked' in r.text
    # an unknown customer: nothing found, and still no ID in the URL
    other = "110101199912319999"
    location, r = search_form(v, customer=other)
    assert location == f"/recordings?ck={world.store.customer_key(other)}"
    assert "No recordings found." in r.text


def test_an_old_customer_link_without_a_session_keeps_the_id_out_of_the_login_url(world):
    cid = world.recordings["R1-PASS"]["customer_id"]
    anon = client(world.app, "10.0.0.96")
    r = anon.get(f"/recordings?customer={cid}&text={quote(TEXT[:6])}")
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    assert cid not in unquote(r.headers["location"])
    assert cid not in anon.get(r.headers["location"]).text
    assert f"ck%3D{world.store.customer_key(cid)}" in r.headers["location"]


@pytest.mark.parametrize("bad", ["nothex", "0" * 63, "0" * 65, "g" * 64,
                                 "0" * 60 + "<b>", XSS_SCRIPT, "11010119900001123X"])
def test_a_customer_key_that_is_not_one_is_refused(world, bad):
    r = world.users["viewer"].get("/recordings?ck=" + quote(bad))
    assert r.status_code == 400, bad
    assert "customer key" in r.text and bad not in r.text


def test_a_customer_key_of_no_one_finds_nothing(world):
    r = world.users["admin"].get("/recordings?ck=" + "0" * 64)
    assert r.status_code == 200 and "No recordings found." in r.text


# --------------------------------------------------------------------------- headers


def test_security_headers_on_every_kind_of_response(world):
    anon = client(world.app, "10.0.0.97")
    b = world.users["viewer"]
    for c, url in [(anon, "/login"), (anon, "/"), (anon, "/recordings/R1-PASS/media"),
                   (anon, "/no-such-page"), (b.c, "/"), (b.c, "/recordings/R1-PASS"),
                   (b.c, "/recordings/R1-PASS/media"), (b.c, "/admin"),
                   (b.c, "/recordings/R2-PASS"), (b.c, "/static/console.js")]:
        r = c.get(url, headers={"range": "bytes=0-9"} if url.endswith("/media") else {})
        check_headers(r, url)
    r = anon.get("/login")
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    # the session cookie too
    from tests.console_helpers import login_token
    r = anon.post("/login", data={"username": "viewer", "password": b.password,
                                  "csrf_token": login_token(anon)})
    assert r.status_code == 303
    session = [v for k, v in r.headers.multi_items() if k == "set-cookie"
               and v.startswith("dualrec_session=")][0]
    assert "HttpOnly" in session and "samesite=strict" in session.lower() and "Path=/" in session


# --------------------------------------------------------------------------- errors


def test_bad_input_still_says_what_was_wrong(world):
    """A BadInput (a StoreError too) is the user's mistake: its words are shown, 400."""
    b = world.users["viewer"]
    for url, words in (("/recordings?page=x", "page must be a number"),
                       ("/recordings?ck=x", "ck must be a customer key")):
        r = b.get(url)
        assert r.status_code == 400 and words in r.text, url
        assert "The store could not do this" not in r.text


@pytest.mark.parametrize("where,url", [
    ("console.routes_recordings.search", "/recordings?text=abc"),
    ("console.routes_dashboard.dashboard_data", "/"),
    ("storage.query.show", "/recordings/R1-PASS"),
    ("console.routes_recordings.stream", "/recordings/R1-PASS/media"),
    ("console.routes_admin.audit.verify_chain", "/admin/audit?verify=1"),
])
@pytest.mark.parametrize("exc", [RuntimeError, KeyError, StoreError])
def test_no_traceback_reaches_the_client(world, monkeypatch, where, url, exc):
    secret = "/srv/secret/path.py line 42 password=hunter2"

    def boom(*a, **k):
        raise exc(secret)

    monkeypatch.setattr(where, boom)
    user = "admin" if url.startswith("/admin") else "viewer"
    c = client(world.app, world.users[user].address, raise_server_exceptions=False)
    c.cookies.set("dualrec_session", world.users[user].c.cookies.get("dualrec_session"))
    for accept in ("text/html", "application/json", "*/*"):
        r = c.get(url, headers={"accept": accept})
        assert r.status_code == 500, (url, r.status_code)
        check_headers(r, url)
        # a StoreError's words are for an operator too (they may name server paths):
        # the client gets a generic message, as for any other error
        for bad in ("Traceback", 'File "', "/srv/secret", "line 42", exc.__name__, "boom",
                    "hunter2"):
            assert bad not in r.text, (url, accept, bad, r.text[:400])
        if exc is StoreError:
            assert "The store could not do this: the server log has the details." in r.text
        else:
            assert "Internal error" in r.text
