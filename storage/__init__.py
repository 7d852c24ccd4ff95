"""The audit store: a database of recordings, verification runs, findings, transcripts,
legal holds, purges and a hash-chained audit log, plus a write-once media vault.

Entry point: :func:`storage.db.open_store`. Commands: ``pipelines/store_cli.py``.
"""
from __future__ import annotations

__all__ = ["open_store"]


def open_store(*args, **kwargs):
    from storage.db import open_store as _open
    return _open(*args, **kwargs)
