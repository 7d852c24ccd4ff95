"""What the console's pages may show: no customer ID number or name for a masked role
(a crawl of every GET route and every link found, as viewer, auditor, admin and the
branch-limited users), the legal role sees them in clear on the recording page; HTML
in ids escaped everywhere; no inline script or style; the security headers on every
response; and no traceback ever reaches the client."""
from __future__ import annotations

import html
import io
import json
import re
import zipfile
from html.parser import HTMLParser
from urllib.parse import quote, unquote, urljoin, urlsplit

import pytest

from storage.db import StoreError
from tests.console_helpers import (TEXT, XSS_ATTR, XSS_BRANCH, XSS_SCRIPT, app_routes,
                                   chain_ok, client, world)  # noqa: F401

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


def without_echo(text: str, url: str, secret: str) -> str:
    """The page less what the user typed into the search form (a search by customer ID
    shows the ID in its own box and in the pager's links): only when the URL has it."""
    if secret not in unquote(url):
        return text
    return text.replace(f'value="{secret}"', "").replace(f"customer={quote(secret)}", "")


def crawl(b, w, start: list[str], skip_secret_check=lambda url: False):
    """Visit `start` and every console link found (GET), up to MAX_PAGES; check every
    response. Returns {url: response}."""
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
        for text in texts_of(r):
            if not skip_secret_check(url):
                for secret in secrets:
                    as_json = json.dumps(secret)[1:-1]  # a name in an ASCII JSON dump
                    if secret in without_echo(text, url, secret) or (
                            as_json != secret and as_json in text):
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
    name the customer, searches by customer ID, a viewer streaming."""
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
        assert w.users[u].get(f"/recordings?customer={cid}").status_code == 200
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
    start.append(f"/recordings?customer={cid}")
    pages = crawl(w.users[user], w, start)
    ok = [u for u, r in pages.items() if r.status_code == 200]
    assert len(ok) >= 10, ok
    if user == "viewer":
        # the viewer found its own branch's recording by customer ID, shown masked
        found = pages[f"/recordings?customer={cid}"].text
        assert "R1-PASS" in found and cid[:4] + "*" * 10 + cid[-4:] in found
    if user == "admin":  # the audit log was crawled, with the entries above in it
        assert "CASE-P" in pages["/admin/audit?action=hold"].text
        assert "1101" in pages["/admin/audit?action=search"].text
    chain_ok(w.store)


@pytest.mark.parametrize("user", ("legal", "legal_br1"))
def test_legal_sees_the_customer_in_clear_on_the_recording_page(activity, user):
    w = activity
    r1 = w.recordings["R1-PASS"]
    page = w.users[user].get("/recordings/R1-PASS").text
    assert r1["customer_id"] in page and r1["customer_name"] in page
    # but lists and search show it masked, as for everyone
    for url in ("/recordings", f"/recordings?customer={r1['customer_id']}", "/"):
        text = w.users[user].get(url).text
        assert r1["customer_id"] not in without_echo(text, url, r1["customer_id"]), url
        assert r1["customer_name"] not in text, url
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
    b = world.users["viewer"]
    r = b.get("/recordings/R1-PASS?note=" + quote(XSS_SCRIPT))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text and XSS_SCRIPT not in r.text
    anon = client(world.app, "10.0.0.98")
    r = anon.get("/login?next=" + quote('/x"><script>alert(1)</script>', safe=""))
    assert r.status_code == 200 and "<script>alert(1)" not in r.text
    assert 'value="/x&#34;&gt;&lt;script&gt;' in r.text


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


@pytest.mark.parametrize("where,url", [
    ("console.routes_recordings.search", "/recordings?text=abc"),
    ("console.routes_dashboard.dashboard_data", "/"),
    ("storage.query.show", "/recordings/R1-PASS"),
    ("console.routes_recordings.stream", "/recordings/R1-PASS/media"),
    ("console.routes_admin.audit.verify_chain", "/admin/audit"),
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
        for bad in ("Traceback", 'File "', "line 42", exc.__name__, "boom", "hunter2"):
            if exc is StoreError and bad in ("line 42", "hunter2"):
                continue  # a StoreError's message is meant for the user (it says what failed)
            assert bad not in r.text, (url, accept, bad, r.text[:400])
        if exc is not StoreError:
            assert "Internal error" in r.text
