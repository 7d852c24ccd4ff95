"""Bookkeeping of nightly batch runs: one row per run, one per inbox file.

A run is ``running`` until it finishes. A run killed on this host (its pid gone) is
marked ``crashed`` by the next run that starts here, so the list of batches says what
happened. The recordings themselves are stored by storage.ingest (crash-safe on its
own): these rows only say what each run did with each file.
"""
from __future__ import annotations

import os
import socket
import uuid
from typing import Any

from sqlalchemy import select

from storage import audit
from storage.db import BadInput, Store, current_actor
from storage.models import BatchItem, BatchRun, utcnow

# What became of an inbox file. stored/updated/reverified/replaced/skipped come from
# storage.ingest (replaced: a never-verified recording took a re-delivered file); rejected: no recording could be made (no or invalid sidecar, path
# outside the inbox, another file under the same id); deferred: still being copied.
OUTCOMES = ("stored", "updated", "reverified", "replaced", "skipped", "rejected", "failed", "deferred")


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def mark_crashed(store: Store) -> list[str]:
    """Runs of this host still marked running whose process is gone: ``crashed``."""
    host = socket.gethostname()
    marked = []
    with store.session() as s:
        for run in s.scalars(select(BatchRun).where(BatchRun.status == "running",
                                                    BatchRun.host == host)):
            if run.pid != os.getpid() and not _alive(run.pid):
                run.status, run.finished_at = "crashed", utcnow()
                marked.append(run.batch_key)
    return marked


def begin(store: Store, inbox: str, concurrency: int, branch: str | None = None,
          batch_key: str | None = None, actor: str | None = None) -> str:
    mark_crashed(store)
    key = batch_key or uuid.uuid4().hex
    actor = actor or current_actor()
    with store.session() as s:
        existing = s.scalars(select(BatchRun).where(BatchRun.batch_key == key)).first()
        if existing is not None:  # the same flow run retried: carry on in its row
            existing.status, existing.pid = "running", os.getpid()
            return key
        s.add(BatchRun(batch_key=key, inbox=inbox, host=socket.gethostname(),
                       pid=os.getpid(), branch_id=branch, actor=actor,
                       concurrency=concurrency, status="running", started_at=utcnow()))
        audit.append(s, actor, "batch", None, {"batch": key, "event": "started",
                                                "inbox": inbox, "branch": branch,
                                                "concurrency": concurrency})
    return key


def record_item(store: Store, batch_key: str, path: str, outcome: str, *,
                media_sha256: str | None = None, recording_id: str | None = None,
                verdict: str | None = None, reason: str | None = None,
                seconds: float | None = None) -> None:
    """What the run did with one file (replacing an earlier row of the same run)."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown batch outcome {outcome!r}")
    with store.session() as s:
        run = _run(s, batch_key)
        row = s.scalars(select(BatchItem).where(BatchItem.batch_id == run.id,
                                                BatchItem.path == path)).first()
        values = dict(media_sha256=media_sha256, recording_id=recording_id, outcome=outcome,
                      verdict=verdict, reason=reason, seconds=seconds)
        if row is None:
            s.add(BatchItem(batch_id=run.id, path=path, created_at=utcnow(), **values))
        else:
            for k, v in values.items():
                setattr(row, k, v)


def counts(items: list[dict[str, Any]]) -> dict[str, Any]:
    """The CONTRACT batch counts. processed: verified and stored by this run (any
    verdict); skipped: already stored and verified with the same ruleset and engine;
    errors: files whose result is an error (not storable, or verdict error)."""
    by = {o: 0 for o in OUTCOMES}
    verdicts = {v: 0 for v in ("pass", "fail", "review", "error")}
    for it in items:
        by[it["outcome"]] += 1
        if it.get("verdict") in verdicts:
            verdicts[it["verdict"]] += 1
    return {"processed": by["stored"] + by["updated"] + by["reverified"] + by["replaced"],
            "skipped": by["skipped"],
            "errors": sum(1 for it in items if it["outcome"] in ("rejected", "failed")
                          or it.get("verdict") == "error"),
            "rejected": by["rejected"] + by["failed"], "deferred": by["deferred"],
            "verdicts": verdicts, "total": len(items)}


def finish(store: Store, batch_key: str, summary_path: str | None = None) -> dict[str, Any]:
    with store.session() as s:
        run = _run(s, batch_key)
        items = [item_dict(i) for i in run.items]
        c = counts(items)
        run.status, run.finished_at, run.summary = "finished", utcnow(), c
        run.summary_path = summary_path
        audit.append(s, run.actor, "batch", None, {"batch": batch_key, "event": "finished",
                                                    **{k: v for k, v in c.items()}})
    return c


def set_summary_path(store: Store, batch_key: str, path: str) -> None:
    with store.session() as s:
        _run(s, batch_key).summary_path = path


def item_dict(i: BatchItem) -> dict[str, Any]:
    return {"path": i.path, "recording_id": i.recording_id, "outcome": i.outcome,
            "verdict": i.verdict, "reason": i.reason, "sha256": i.media_sha256,
            "seconds": i.seconds}


def run_dict(run: BatchRun, with_items: bool = True) -> dict[str, Any]:
    out = {"batch": run.batch_key, "inbox": run.inbox, "host": run.host,
           "branch": run.branch_id, "actor": run.actor, "concurrency": run.concurrency,
           "status": run.status,
           "started_at": run.started_at.isoformat() if run.started_at else None,
           "finished_at": run.finished_at.isoformat() if run.finished_at else None,
           "summary": run.summary, "summary_path": run.summary_path}
    if with_items:
        out["items"] = [item_dict(i) for i in run.items]
    return out


def get_run(store: Store, batch_key: str) -> dict[str, Any]:
    with store.session() as s:
        return run_dict(_run(s, batch_key))


def list_runs(store: Store, limit: int = 20) -> list[dict[str, Any]]:
    with store.session() as s:
        runs = s.scalars(select(BatchRun).order_by(BatchRun.id.desc()).limit(limit)).all()
        return [run_dict(r, with_items=False) for r in runs]


def _run(s, batch_key: str) -> BatchRun:
    run = s.scalars(select(BatchRun).where(BatchRun.batch_key == batch_key)).first()
    if run is None:
        raise BadInput(f"no batch run {batch_key!r}")
    return run
