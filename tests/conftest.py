import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
SPEECH = SHARED / "media" / "speech"

# A real Prefect server for the tests that need one (fixture prefect_api_url).
pytest_plugins = ["tests.prefect_server"]


@pytest.fixture(scope="session")
def settings():
    from verifier.config import load_settings
    return load_settings()


@pytest.fixture(scope="session")
def astronaut_face():
    """The astronaut's head and shoulders from scikit-image (NASA, public domain), BGR."""
    import cv2
    from skimage import data
    img = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    return img[20:300, 100:330].copy()


@pytest.fixture(scope="session")
def detector(settings):
    from verifier.faces import FaceDetector, FaceThresholds
    from verifier.models import resolve_yunet
    return FaceDetector(resolve_yunet(settings).path, FaceThresholds.from_settings(settings))


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path, monkeypatch):
    # No test may write into the working tree's dualrec-data/.
    monkeypatch.setenv("DUALREC_DATA_DIR", str(tmp_path / "dualrec-data"))
    yield


# --------------------------------------------------------------------------- audit store
# The store's tests (tests/test_store_*.py) run against SQLite always, and also against
# PostgreSQL when DUALREC_TEST_PG_URL names a server (.ci/postgres.sh sets it): each
# PostgreSQL test gets a database of its own, dropped afterwards.

STORE_PG_URL = os.environ.get("DUALREC_TEST_PG_URL")
STORE_BACKENDS = ["sqlite"] + (["postgresql"] if STORE_PG_URL else [])


@pytest.fixture(params=STORE_BACKENDS)
def db_url(request, monkeypatch):
    """None for SQLite (the store's default file under DUALREC_DATA_DIR), else the URL
    of a fresh PostgreSQL database; DUALREC_DB_URL is set accordingly, so commands run
    in-process or as subprocesses use the same database."""
    if request.param == "sqlite":
        monkeypatch.delenv("DUALREC_DB_URL", raising=False)
        yield None
        return
    import uuid

    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    name = "dualrec_t_" + uuid.uuid4().hex[:12]
    admin = create_engine(STORE_PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = make_url(STORE_PG_URL).set(database=name).render_as_string(hide_password=False)
    monkeypatch.setenv("DUALREC_DB_URL", url)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def store(db_url):
    """An open, empty store (database + local vault under the test's data dir)."""
    from storage.db import open_store
    from verifier.config import load_settings

    s = open_store(load_settings())
    yield s
    s.close()


@pytest.fixture
def make_recording(tmp_path):
    """Factory of recordings the store accepts without running any model: a media file
    of random bytes, its sidecar, and a report dict of the CONTRACT section 4 shape.

    make_recording("R1", transcript=[(1.0, 3.5, "staff", "理财非存款")], verdict="pass",
                   ruleset_version="2026.11", **sidecar_overrides) -> (media, sidecar, report)
    """
    from tests.stored_recordings import make_stored_recording

    def make(recording_id: str, transcript=(), verdict: str = "pass",
             ruleset_version: str = "2026.11", media_bytes: bytes | None = None,
             folder: Path | None = None, **overrides):
        return make_stored_recording(folder or tmp_path / "inbox", recording_id, transcript,
                                     verdict, ruleset_version, media_bytes,
                                     **overrides)[:3]

    return make


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # The outcome of each phase on the test item (item.rep_call), so a fixture can act on
    # a failure: the browser tests save a screenshot.
    outcome = yield
    report = outcome.get_result()
    setattr(item, "rep_" + report.when, report)
