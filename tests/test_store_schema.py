"""The schema comes from the Alembic migrations, and they match the models."""
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from storage.db import migrate, open_store
from storage.models import Base, include_object


def test_migrations_match_the_models(store):
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_object": include_object,
                                                     "compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == [], diff


def test_schema_tables_and_text_index(store):
    names = set(inspect(store.engine).get_table_names())
    assert {"recordings", "verification_runs", "findings", "transcript_segments",
            "legal_holds", "purge_records", "audit_log", "audit_head", "vault_objects",
            "review_decisions", "audit_samples", "store_meta", "alembic_version",
            "batch_runs", "batch_items"} <= names
    if store.dialect == "sqlite":
        assert store.has_fts()  # SQLite here is 3.34 or later: FTS5 trigram
    else:
        indexes = {i["name"] for i in inspect(store.engine).get_indexes("transcript_segments")}
        assert "ix_transcript_segments_text_norm_trgm" in indexes


def _head() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from storage.db import MIGRATIONS_DIR

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(cfg).get_current_head()


def test_reopening_is_idempotent_and_downgrade_works(store):
    from alembic import command
    from alembic.config import Config
    from storage.db import MIGRATIONS_DIR

    head = _head()
    assert head != "0001"  # later migrations exist and are applied on open
    assert migrate(store.engine) == head
    again = open_store(store.settings)
    again.close()
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert "recordings" not in inspect(store.engine).get_table_names()
    assert migrate(store.engine) == head
    assert "recordings" in inspect(store.engine).get_table_names()
