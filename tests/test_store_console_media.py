"""Streaming a recording's media to the player: HTTP Range (first bytes, middle,
suffix, open-ended, past the end, unsatisfiable), on a plain and an encrypted vault
(chunk boundaries), the separate audio file, a tampered or missing object, a purged
recording, and a 64 MiB encrypted file read whole in bounded memory."""
from __future__ import annotations

import hashlib
import os
import tracemalloc

import pytest

from storage.crypto import CHUNK
from storage.ingest import store_recording
from tests.console_helpers import (VAULT_KEY, client, logged_in, make_app,
                                   make_recording_factory)

SIZE = 2 * CHUNK + 12345  # three encrypted chunks, the last a short one


@pytest.fixture(params=["plain", "encrypted"])
def vault_store(request, db_url, monkeypatch):
    """An open store whose vault is plain or encrypted (DUALREC_VAULT_KEY)."""
    from storage.db import open_store
    from verifier.config import load_settings

    if request.param == "encrypted":
        monkeypatch.setenv("DUALREC_VAULT_KEY", VAULT_KEY)
    else:
        monkeypatch.delenv("DUALREC_VAULT_KEY", raising=False)
    s = open_store(load_settings())
    s.encrypted = request.param == "encrypted"
    yield s
    s.close()


@pytest.fixture
def streamed(vault_store, tmp_path):
    """R1 with SIZE bytes of media and a separate audio file; a viewer logged in."""
    data, audio = os.urandom(SIZE), os.urandom(CHUNK + 7)
    make = make_recording_factory(tmp_path)
    media, side, report, _ = make("R1", media_bytes=data, audio_bytes=audio)
    store_recording(vault_store, media, side, report, actor="ingest-test")
    app = make_app(vault_store)
    viewer = logged_in(app, vault_store, "vic", "viewer", ["BR001"])
    return vault_store, app, viewer, data, audio


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_the_vault_is_what_the_test_says(streamed):
    store, app, viewer, data, audio = streamed
    raw = store.vault.path_of(_sha(data)).read_bytes()
    assert raw.startswith(b"DRVAULT1") == store.encrypted
    assert (data[:64] in raw) != store.encrypted


RANGES = [
    ("bytes=0-99", 0, 99),                         # the first bytes (a player's probe)
    ("bytes=0-0", 0, 0),
    ("bytes=0-", 0, SIZE - 1),                     # everything, as a range
    (f"bytes={CHUNK - 10}-{CHUNK + 9}", CHUNK - 10, CHUNK + 9),  # across a chunk boundary
    (f"bytes={CHUNK}-{2 * CHUNK - 1}", CHUNK, 2 * CHUNK - 1),    # exactly one chunk
    ("bytes=1000000-1000999", 1000000, 1000999),   # the middle
    (f"bytes={SIZE - 1}-{SIZE - 1}", SIZE - 1, SIZE - 1),        # the last byte
    (f"bytes={SIZE - 100}-", SIZE - 100, SIZE - 1),              # open-ended
    (f"bytes=10-{SIZE + 1000}", 10, SIZE - 1),     # past the end: cut to the last byte
    ("bytes=-500", SIZE - 500, SIZE - 1),          # suffix: the last 500 bytes
    (f"bytes=-{SIZE + 10}", 0, SIZE - 1),          # a suffix longer than the file
    (" bytes=5-9 ", 5, 9),
]
BAD_RANGES = [
    f"bytes={SIZE}-", f"bytes={SIZE + 5}-{SIZE + 10}", "bytes=9-5", "bytes=-0", "bytes=-",
    "bytes=abc", "items=0-9", "bytes=0-1,5-6", "bytes=1.5-2", "bytes=-1-5",
]


def test_ranges(streamed):
    store, app, viewer, data, audio = streamed
    for header, first, last in RANGES:
        r = viewer.get("/recordings/R1/media", headers={"range": header})
        assert r.status_code == 206, (header, r.text[:200])
        assert r.headers["content-range"] == f"bytes {first}-{last}/{SIZE}", header
        assert r.headers["content-length"] == str(last - first + 1), header
        assert r.headers["accept-ranges"] == "bytes"
        assert r.headers["content-type"] == "video/mp4"
        assert r.content == data[first:last + 1], header


def test_no_range_is_the_whole_file(streamed):
    store, app, viewer, data, audio = streamed
    r = viewer.get("/recordings/R1/media")
    assert r.status_code == 200 and r.headers["accept-ranges"] == "bytes"
    assert r.headers["content-length"] == str(SIZE) and "content-range" not in r.headers
    assert r.headers["cache-control"] == "no-store"
    assert _sha(r.content) == _sha(data)


def test_an_unsatisfiable_range_is_416(streamed):
    store, app, viewer, data, audio = streamed
    for header in BAD_RANGES:
        r = viewer.get("/recordings/R1/media", headers={"range": header})
        assert r.status_code == 416, header
        assert r.headers["content-range"] == f"bytes */{SIZE}", header
        assert r.content == b""


def test_the_separate_audio_file(streamed):
    store, app, viewer, data, audio = streamed
    r = viewer.get("/recordings/R1/audio")
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
    assert r.content == audio and r.headers["content-length"] == str(len(audio))
    r = viewer.get("/recordings/R1/audio", headers={"range": f"bytes={CHUNK - 3}-"})
    assert r.status_code == 206 and r.content == audio[CHUNK - 3:]
    assert r.headers["content-range"] == f"bytes {CHUNK - 3}-{len(audio) - 1}/{len(audio)}"
    r = viewer.get("/recordings/R1/audio", headers={"range": f"bytes={len(audio)}-"})
    assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{len(audio)}"


def test_a_recording_without_separate_audio_or_with_purged_media(vault_store, tmp_path):
    from sqlalchemy import update

    from storage.models import Recording, utcnow

    make = make_recording_factory(tmp_path)
    media, side, report, _ = make("R2")
    store_recording(vault_store, media, side, report, actor="ingest-test")
    app = make_app(vault_store)
    viewer = logged_in(app, vault_store, "vic", "viewer", ["BR001"])
    assert viewer.get("/recordings/R2/audio").status_code == 404
    assert viewer.get("/recordings/R2/media").status_code == 200
    with vault_store.session() as s:
        s.execute(update(Recording).values(media_present=False, purged_at=utcnow()))
    r = viewer.get("/recordings/R2/media", headers={"accept": "*/*"})
    assert r.status_code == 400 and "purged" in r.text
    page = viewer.get("/recordings/R2")
    assert page.status_code == 200 and "/recordings/R2/media" not in page.text
    assert "purged" in page.text


def test_a_damaged_or_missing_object_never_sends_wrong_bytes(streamed):
    store, app, viewer, data, audio = streamed
    path = store.vault.path_of(_sha(data))
    raw = bytearray(path.read_bytes())
    os.chmod(path, 0o644)
    # damage the middle of the stored object (the second chunk when encrypted)
    raw[len(raw) // 2] ^= 0x01
    path.write_bytes(bytes(raw))
    c = client(app, viewer.address, raise_server_exceptions=False)
    c.cookies.set("dualrec_session", viewer.c.cookies.get("dualrec_session"))
    # a range before the damage is served (only the chunks it touches are read)
    r = c.get("/recordings/R1/media", headers={"range": "bytes=0-999"})
    assert r.status_code == 206 and r.content == data[:1000]
    if store.encrypted:
        # a range inside the damaged chunk: refused before any byte is sent
        r = c.get("/recordings/R1/media", headers={"range": f"bytes={CHUNK + 5}-{CHUNK + 9}"})
        assert r.status_code == 500 and "Traceback" not in r.text
        assert "Internal error" in r.text
        # the whole file: the undamaged chunk goes out, then the response stops short
        try:
            with c.stream("GET", "/recordings/R1/media") as r:
                got = b"".join(r.iter_bytes())
        except Exception:  # the connection breaks off: also acceptable
            got = b""
        assert len(got) < SIZE and data.startswith(got)
    # a missing object: a clean error, no traceback
    os.unlink(path)
    r = c.get("/recordings/R1/media")
    assert r.status_code == 500 and "Traceback" not in r.text and str(path) not in r.text


def test_a_large_encrypted_file_streams_in_bounded_memory(db_url, monkeypatch, tmp_path):
    """64 MiB of media in an encrypted vault, read whole through the console: the
    response is streamed a block at a time (tracemalloc's peak stays far below the
    file's size), and the bytes are right."""
    from storage.db import open_store
    from verifier.config import load_settings

    monkeypatch.setenv("DUALREC_VAULT_KEY", VAULT_KEY)
    store = open_store(load_settings())
    try:
        size = 64 * 1024 * 1024
        folder = tmp_path / "big"
        folder.mkdir()
        media = folder / "BIG.mp4"
        digest = hashlib.sha256()
        block = os.urandom(CHUNK)
        with open(media, "wb") as fh:
            for i in range(size // CHUNK):
                piece = bytes([i % 256]) + block[1:]  # no two chunks alike
                digest.update(piece)
                fh.write(piece)
        make = make_recording_factory(tmp_path)
        _, side, report, _ = make("BIG", media_bytes=b"x")  # the sidecar and report
        report["sha256"] = digest.hexdigest()
        os.replace(media, side.parent / "BIG.mp4")
        store_recording(store, side.parent / "BIG.mp4", side, report, actor="ingest-test")
        assert store.vault.path_of(digest.hexdigest()).read_bytes()[:8] == b"DRVAULT1"
        app = make_app(store)
        viewer = logged_in(app, store, "vic", "viewer", ["BR001"])

        got = hashlib.sha256()
        n = 0
        tracemalloc.start()
        try:
            with viewer.c.stream("GET", "/recordings/BIG/media") as r:
                assert r.status_code == 200 and r.headers["content-length"] == str(size)
                for piece in r.iter_bytes():
                    got.update(piece)
                    n += len(piece)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert n == size and got.hexdigest() == digest.hexdigest()
        assert peak < 16 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB for a 64 MiB file"
        # and a range deep inside it
        start = 40 * CHUNK + 17
        r = viewer.get("/recordings/BIG/media", headers={"range": f"bytes={start}-{start + 99}"})
        assert r.status_code == 206 and r.content == (bytes([40]) + block[1:])[17:117]
    finally:
        store.close()
