"""Opening the store: database engine, migrations, vault, keys.

SQLite by default (``<data_dir>/dualrec.db``); PostgreSQL when ``settings.db_url`` (or
env DUALREC_DB_URL) is ``postgresql+psycopg://...``. The schema is brought up to date
with Alembic on every open (``storage/migrations``; no alembic.ini needed).
"""
from __future__ import annotations

import getpass
import hashlib
import hmac
import logging
import os
import secrets
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from storage.models import StoreMeta
from storage.vault import Vault, VaultError, open_vault

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
DB_FILE = "dualrec.db"
_PG_MIGRATION_LOCK = 0x64756172  # "duar": advisory lock id serialising migrations


class StoreError(Exception):
    """A store operation failed; exit status 1."""
    exit_code = 1


class BadInput(StoreError):
    """Bad input or usage (unknown recording, invalid option); exit status 2."""
    exit_code = 2


class NotFound(BadInput):
    pass


def current_actor() -> str:
    """Who is acting: env DUALREC_ACTOR, else the OS user."""
    actor = os.environ.get("DUALREC_ACTOR", "").strip()
    if actor:
        return actor[:128]
    try:
        return getpass.getuser()[:128]
    except Exception:  # no passwd entry (containers)
        return f"uid:{os.getuid()}"


def _sqlite_engine(path: Path) -> Engine:
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record):
        # Let SQLAlchemy control transactions (the driver would start them lazily, after
        # the first read), and make every transaction take the write lock up front:
        # the audit chain reads its head and appends in one serialised step.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = FULL")
        cur.execute("PRAGMA busy_timeout = 30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def make_engine(url: str | None, data_dir: Path) -> Engine:
    if not url:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        return _sqlite_engine(data_dir / DB_FILE)
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
            return _sqlite_engine(Path(url[len("sqlite:///"):]))
        raise BadInput(f"unsupported SQLite URL {url!r}: use sqlite:///PATH")
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    # The console serves up to 40 requests at once (uvicorn's thread pool); the default
    # pool of 5 + 10 made it open and close connections all the time under load.
    return create_engine(url, pool_pre_ping=True, pool_size=20, max_overflow=20)


def migrate(engine: Engine) -> str:
    """Upgrade the schema to the newest migration; returns the revision."""
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
        current = MigrationContext.configure(conn).get_current_revision()
        if current != head:
            log.info("migrating the store's database from %s to %s", current, head)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    return head


def _load_lookup_key(data_dir: Path) -> bytes:
    """The key of the customer lookup hash: env DUALREC_LOOKUP_KEY, or the file named by
    DUALREC_LOOKUP_KEY_FILE, or ``<data_dir>/keys/lookup.key`` (made on first use)."""
    raw = os.environ.get("DUALREC_LOOKUP_KEY", "").strip()
    if raw:
        return raw.encode("utf-8")
    path = Path(os.environ.get("DUALREC_LOOKUP_KEY_FILE") or data_dir / "keys" / "lookup.key")
    path = path.expanduser()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # made by a concurrent process
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
    try:
        key = path.read_text(encoding="ascii").strip()
    except OSError as exc:
        raise StoreError(f"lookup key {path}: {exc.strerror or exc}") from None
    if len(key) < 32:
        raise StoreError(f"lookup key {path} is too short (need at least 32 characters)")
    return key.encode("utf-8")


@dataclass
class Store:
    settings: object
    engine: Engine
    vault: Vault
    data_dir: Path
    lookup_key: bytes = field(repr=False)
    _sessions: sessionmaker = field(init=False, repr=False)
    _fts: bool | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error."""
        with self._sessions() as s:
            with s.begin():
                yield s

    def customer_key(self, customer_id: str) -> str:
        """Keyed hash of a customer ID (HMAC-SHA256): lookups without a clear index."""
        norm = customer_id.strip().upper()
        return hmac.new(self.lookup_key, b"customer:" + norm.encode("utf-8"),
                        hashlib.sha256).hexdigest()

    def has_fts(self) -> bool:
        """SQLite: whether the FTS5 trigram index of transcripts exists (the migration
        makes it where SQLite has the trigram tokenizer)."""
        if self.dialect != "sqlite":
            return False
        if self._fts is None:
            with self.engine.connect() as conn:
                row = conn.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE type='table' "
                                           "AND name='segment_fts'").first()
                conn.rollback()
            self._fts = row is not None
        return self._fts

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _check_lookup_key(store: Store) -> None:
    fp = hashlib.sha256(b"dualrec-lookup-key-fp" + store.lookup_key).hexdigest()[:16]
    with store.session() as s:
        row = s.get(StoreMeta, "lookup_key_fingerprint")
        if row is None:
            s.add(StoreMeta(key="lookup_key_fingerprint", value=fp))
        elif row.value != fp:
            raise StoreError("the customer lookup key does not match this database "
                             "(DUALREC_LOOKUP_KEY / DUALREC_LOOKUP_KEY_FILE / "
                             "<data_dir>/keys/lookup.key): searches by customer would "
                             "find nothing")


def open_store(settings=None, *, migrate_schema: bool = True) -> Store:
    """Open (and create or upgrade) the store described by `settings`
    (verifier.config.Settings; default: load_settings())."""
    if settings is None:
        from verifier.config import load_settings
        settings = load_settings()
    data_dir = Path(settings.data_dir).expanduser()
    engine = make_engine(settings.db_url, data_dir)
    try:
        if migrate_schema:
            migrate(engine)
        try:
            vault = open_vault(data_dir)
        except (VaultError, ValueError) as exc:
            raise StoreError(f"vault: {exc}") from None
        except Exception as exc:  # CryptoError and friends: configuration problems
            raise StoreError(f"vault: {exc}") from None
        store = Store(settings, engine, vault, data_dir, _load_lookup_key(data_dir))
        _check_lookup_key(store)
    except Exception:
        engine.dispose()
        raise
    return store
