"""The Prefect flows: one recording on demand, the nightly batch, the retention sweep.

Each step is a task of its own, so the Prefect UI shows where the time goes:
``scan-inbox``, then per recording ``check-input`` (hash, sidecar, ruleset, is it
already done?), ``verify-media`` (the models), ``store-recording`` (vault and
database), ``draw-timeline``; finally ``write-summary``.

- ``verify-media`` is cached by the media's sha256, the sidecar's, the ruleset id and
  version, the engine version and the settings that change a verdict: a rerun after a
  crash between verifying and storing does not run the models again.
- A file already stored and verified with the same ruleset and engine is skipped in
  ``check-input``, before any model is loaded: a second run over the same inbox only
  hashes.
- Retries are for transient faults (database, file system, a model missing for a
  moment), never for bad input: a bad file becomes an ``error`` result with its reason,
  and the batch goes on.
- Concurrency: at most ``concurrency`` recordings are in flight; each slot has its own
  face detector, and the speech model serves them with one worker each.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from prefect import flow, task
from prefect.futures import as_completed
from prefect.task_runners import ThreadPoolTaskRunner

from verifier import __version__

log = logging.getLogger(__name__)

# The flow runs' shared objects (settings, store, models), by run key: task parameters
# stay plain data that Prefect can record.
_RUNTIMES: dict[str, "Runtime"] = {}
_RUNTIMES_LOCK = threading.Lock()
# Set by the command line for a progress bar: called with each finished item.
PROGRESS: Callable[[dict], None] | None = None
MAX_IN_FLIGHT = 64  # the thread pool's size; `concurrency` is the real limit


class TransientError(RuntimeError):
    """A step failed for a reason that may pass (retried)."""


class BadRecording(ValueError):
    """The file cannot become a stored recording (not retried)."""

    def __init__(self, message: str, sha256: str | None = None):
        super().__init__(message)
        self.sha256 = sha256


# --------------------------------------------------------------------------- runtime


class AnalyserPool:
    """`size` sets of loaded models, made on first use: a run whose recordings are all
    done already never loads a model."""

    def __init__(self, settings, size: int):
        self.settings, self.size = settings, size
        self._free: queue.Queue = queue.Queue()
        self._made = 0
        self._lock = threading.Lock()

    @contextmanager
    def slot(self) -> Iterator[Any]:
        from verifier.engine import Analysers

        with self._lock:
            make = self._free.empty() and self._made < self.size
            if make:
                self._made += 1
        if make:
            try:
                analysers = Analysers.load(self.settings)
            except BaseException:
                with self._lock:
                    self._made -= 1
                raise
        else:
            analysers = self._free.get()
        try:
            yield analysers
        finally:
            self._free.put(analysers)


@dataclass
class Runtime:
    settings: Any
    store: Any
    pool: AnalyserPool
    batch: str | None = None  # the batch run's key, None for a single recording
    reports_dir: Path | None = None  # None: no timeline pictures
    lock: threading.Lock = field(default_factory=threading.Lock)
    _rulesets: Any = None

    def rulesets(self):
        """The ruleset folders, read once per run (not once per recording)."""
        from verifier.ruleset import RulesetLibrary

        with self.lock:
            if self._rulesets is None:
                self._rulesets = RulesetLibrary(self.settings.rulesets_dirs)
            return self._rulesets


def _batch_settings(settings, concurrency: int):
    """The settings a run with `concurrency` slots verifies with: CPU threads shared
    out between the slots (unless configured), one speech worker per slot."""
    models = settings.models
    threads = models.cpu_threads or max(1, (os.cpu_count() or 1) // concurrency)
    return settings.model_copy(update={"models": models.model_copy(
        update={"cpu_threads": threads, "asr_workers": concurrency})})


def settings_fingerprint(settings) -> str:
    """What in the settings can change a report: thresholds, rulesets, models."""
    body = json.dumps({"thresholds": settings.thresholds,
                       "rulesets": [str(p) for p in settings.rulesets_dirs],
                       "whisper": settings.models.whisper,
                       "compute": settings.models.whisper_compute_type,
                       "yunet": str(settings.models.yunet)},
                      sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


@contextmanager
def _runtime(settings, concurrency: int, batch: str | None = None) -> Iterator[Runtime]:
    from storage.db import open_store

    from pipelines.batch_summary import reports_dir

    store = open_store(settings)
    run_settings = _batch_settings(settings, concurrency)
    rt = Runtime(run_settings, store, AnalyserPool(run_settings, concurrency), batch,
                 reports_dir(settings) if settings.batch.timelines else None)
    key = batch or f"single-{os.getpid()}-{threading.get_ident()}-{time.monotonic_ns()}"
    with _RUNTIMES_LOCK:
        _RUNTIMES[key] = rt
    abandoned = False
    try:
        yield key, rt
    except BaseException as exc:
        # Stopped by a signal (Prefect's TerminationSignal, KeyboardInterrupt): tasks
        # still running in their threads use the runtime until the process ends.
        abandoned = not isinstance(exc, Exception)
        raise
    finally:
        if not abandoned:
            with _RUNTIMES_LOCK:
                _RUNTIMES.pop(key, None)
            store.close()


def _rt(key: str) -> Runtime:
    return _RUNTIMES[key]


def _is_transient(task, task_run, state) -> bool:
    """Retry condition: only faults that may pass."""
    from sqlalchemy.exc import OperationalError, InterfaceError

    try:
        state.result()
    except (TransientError, OperationalError, InterfaceError, TimeoutError,
            ConnectionError):
        return True
    except OSError as exc:  # the disk, a network file system
        import errno
        return exc.errno in (errno.EAGAIN, errno.EBUSY, errno.EIO, errno.ETIMEDOUT,
                             errno.ENOSPC, errno.ESTALE)
    except Exception:
        return False
    return False


# --------------------------------------------------------------------------- tasks


@task(name="scan-inbox")
def scan_inbox_task(inbox: str, min_age_s: float) -> list[dict]:
    from pipelines.inbox import scan_inbox

    return [e.to_dict() for e in scan_inbox(inbox, min_age_s)]


@task(name="check-input", retry_condition_fn=_is_transient)
def check_input(key: str, media: str, meta: str | None, ruleset: str | None = None,
                branch: str | None = None) -> dict:
    """Hash, sidecar, ruleset, and whether the store already has this result. Bad
    input is a result of this step (``problem``), not a failure of it."""
    try:
        return _check_input(key, media, meta, ruleset, branch)
    except BadRecording as exc:
        return {"problem": str(exc), "sha256": exc.sha256}


def _check_input(key: str, media: str, meta: str | None, ruleset: str | None,
                 branch: str | None) -> dict:
    from verifier.ruleset import RulesetError, load_ruleset
    from verifier.sidecar import SidecarError, load_sidecar
    from storage.ingest import (audio_sha256, personal_secrets, redelivery_problem, scrub,
                                sidecar_sha256, stored_result, verification_inputs)
    from storage.vault import sha256_of_file

    rt = _rt(key)
    path = Path(media)
    if not path.is_file():
        raise BadRecording(f"{path}: media file " +
                           ("is a folder" if path.is_dir() else "does not exist"))
    sha, size = sha256_of_file(path)
    out = {"media": str(path), "meta": meta, "ruleset_file": ruleset, "sha256": sha,
           "bytes": size, "problem": None}
    try:
        sc = load_sidecar(path, meta)
    except SidecarError as exc:
        raise BadRecording(f"{exc} (a recording needs valid sale metadata)", sha) from None
    # From here on the customer is known: what the batch records says nothing of them.
    secrets = personal_secrets(sc)
    try:
        if branch and sc.branch_id != branch:
            raise BadRecording(f"sidecar: branch_id {sc.branch_id!r} is not this batch's "
                               f"branch {branch!r}: it belongs to another branch's inbox", sha)
        try:
            rs = (load_ruleset(ruleset) if ruleset else rt.rulesets()
                  .select(sc.product_category, sc.product_risk_level, sc.ruleset))
        except RulesetError as exc:
            raise BadRecording(str(exc), sha) from None
        audio_sha = audio_sha256(sc)
        problem = redelivery_problem(rt.store, sc, sha, audio_sha)
        if problem:  # refused before the models run
            raise BadRecording(problem, sha)
    except BadRecording as exc:
        raise BadRecording(scrub(str(exc), secrets), exc.sha256) from None
    out["ruleset_file"] = str(rs.source)  # verify-media reads just this one
    sidecar_sha = sidecar_sha256(sc)
    inputs_sha = verification_inputs(sc, audio_sha)
    out.update(recording_id=sc.recording_id, branch_id=sc.branch_id, staff_id=sc.staff_id,
               ruleset={"id": rs.id, "version": rs.version}, sidecar_sha256=sidecar_sha,
               audio_sha256=audio_sha, inputs_sha256=inputs_sha)
    # The key the verification is cached under: everything its report depends on.
    out["cache_key"] = "dualrec-verify-" + hashlib.sha256("|".join((
        sha, sidecar_sha, audio_sha or "-", rs.id, rs.version, __version__,
        settings_fingerprint(rt.settings))).encode()).hexdigest()
    done = stored_result(rt.store, sc, sha, rs.id, rs.version, __version__, audio_sha)
    out["stored"] = None if done is None else {
        "verdict": done.verdict, "same_sidecar": done.sidecar_sha256 == sidecar_sha,
        "run_id": done.run_id, "current": done.current}
    return out


def _verify_cache_key(context, parameters) -> str:
    return parameters["checked"]["cache_key"]


@task(name="verify-media", cache_key_fn=_verify_cache_key, persist_result=True,
      result_serializer="json", retry_condition_fn=_is_transient)
def verify_media(key: str, checked: dict) -> dict:
    """Run the models and checks (verifier.engine.verify): the report."""
    from storage.ingest import is_transient_error
    from verifier.engine import verify

    rt = _rt(key)
    with rt.pool.slot() as analysers:
        report = verify(checked["media"], checked["meta"], checked["ruleset_file"],
                        settings=rt.settings, analysers=analysers).to_dict()
    if is_transient_error(report):
        raise TransientError(report.get("error") or "verification could not run")
    return report


@task(name="store-recording", retry_condition_fn=_is_transient)
def store_task(key: str, checked: dict, report: dict | None) -> dict:
    """Vault and database (storage.ingest.store_recording); with no report, the stored
    run check-input found is reused (changed retention dates update metadata and
    retention; an earlier run made with this metadata is reinstated)."""
    from storage.db import BadInput
    from storage.ingest import store_recording
    from storage.models import VerificationRun

    rt = _rt(key)
    if report is None:
        with rt.store.session() as s:
            report = s.get(VerificationRun, checked["stored"]["run_id"]).report_json
    try:
        return {**store_recording(rt.store, checked["media"], checked["meta"],
                                  report).to_dict(), "problem": None}
    except BadInput as exc:  # e.g. another file already stored under this id
        return {"problem": str(exc)}


@task(name="draw-timeline")
def draw_timeline(key: str, recording_id: str, run_id: int) -> str | None:
    """The recording's timeline picture (verifier.timeline) from its stored report
    (personal data masked), drawn once per verification run."""
    from verifier.timeline import render_timeline

    from pipelines.batch_summary import timeline_path

    rt = _rt(key)
    if rt.reports_dir is None or run_id is None:
        return None
    out = timeline_path(rt.reports_dir, recording_id, run_id)
    if out.is_file():
        return str(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.{threading.get_ident()}.tmp.png")
    render_timeline(_stored_report(rt, run_id), tmp)
    os.replace(tmp, out)  # never a half-drawn picture under the final name
    return str(out)


def _with_retries(t, settings):
    return t.with_options(retries=settings.batch.retries,
                          retry_delay_seconds=settings.batch.retry_delay_s)


def process_one(key: str, media: str, meta: str | None, rel: str,
                ruleset: str | None = None, branch: str | None = None) -> dict:
    """One recording through check, verify, store and timeline. Never raises for a bad
    file: the item says what happened and why."""
    from verifier.report import reasons

    rt = _rt(key)
    started = time.monotonic()
    item: dict[str, Any] = {"path": rel, "recording_id": None, "sha256": None,
                            "outcome": "failed", "verdict": None, "reason": None}
    report = None  # the fresh report, when this run verifies
    try:
        checked = _with_retries(check_input, rt.settings)(key, media, meta, ruleset, branch)
        if checked["problem"]:
            raise BadRecording(checked["problem"], checked["sha256"])
        item.update(recording_id=checked["recording_id"], sha256=checked["sha256"],
                    branch_id=checked["branch_id"], staff_id=checked["staff_id"])
        stored = checked["stored"]
        if stored is not None and stored["same_sidecar"] and stored["current"]:
            item.update(outcome="skipped", verdict=stored["verdict"])
        else:
            if stored is None:
                report = _with_retries(verify_media, rt.settings)(key, checked)
            result = _with_retries(store_task, rt.settings)(key, checked, report)
            if result["problem"]:
                raise BadRecording(result["problem"], checked["sha256"])
            item.update(outcome=result["status"], verdict=result["verdict"],
                        run_id=result["run_id"])
            for w in result.get("warnings") or []:
                log.warning("%s: %s", checked["recording_id"], w)
        item["run_id"] = item.get("run_id") or _current_run_id(rt, item["recording_id"])
        if item["verdict"] != "pass":
            item["reason"] = "; ".join(reasons(_stored_report(rt, item["run_id"])))[:2000]
        try:
            item["timeline"] = draw_timeline(key, item["recording_id"], item["run_id"])
        except Exception as exc:  # the recording is stored; only its picture is missing
            log.warning("%s: timeline picture not drawn: %s", rel, exc)
    except BadRecording as exc:
        item.update(outcome="rejected", verdict="error", reason=str(exc))
        item["sha256"] = item["sha256"] or exc.sha256
    except Exception as exc:  # retries spent, or a bug: this file fails, the batch goes on
        log.exception("%s: could not be processed", rel)
        item.update(outcome="failed", verdict="error",
                    reason=f"{type(exc).__name__}: {exc}"[:2000])
    item["seconds"] = round(time.monotonic() - started, 3)
    if rt.batch is not None:
        from storage import batches
        batches.record_item(rt.store, rt.batch, rel, item["outcome"],
                            media_sha256=item["sha256"], recording_id=item["recording_id"],
                            verdict=item["verdict"], reason=item["reason"],
                            seconds=item["seconds"])
    if PROGRESS is not None:
        with rt.lock:
            PROGRESS(item)
    return item


def _current_run_id(rt: Runtime, recording_id: str) -> int | None:
    from storage.query import get_recording

    with rt.store.session() as s:
        return get_recording(s, recording_id).current_run_id


def _stored_report(rt: Runtime, run_id: int) -> dict:
    from storage.models import VerificationRun

    with rt.store.session() as s:
        return s.get(VerificationRun, run_id).report_json


@task(name="process-recording")
def process_recording(key: str, media: str, meta: str | None, rel: str,
                      branch: str | None = None) -> dict:
    return process_one(key, media, meta, rel, branch=branch)


@task(name="write-summary")
def write_summary(key: str) -> str:
    from pipelines.batch_summary import write_batch_summary

    rt = _rt(key)
    return str(write_batch_summary(rt.store, rt.batch, rt.settings))


# --------------------------------------------------------------------------- flows


def _flow_run_id() -> str | None:
    from prefect.runtime import flow_run

    rid = flow_run.id
    return str(rid).replace("-", "") if rid else None


@flow(name="nightly-batch", task_runner=ThreadPoolTaskRunner(max_workers=MAX_IN_FLIGHT),
      log_prints=True)
def nightly_batch(inbox: str, branch: str | None = None, concurrency: int | None = None,
                  config: str | None = None, min_age_s: float | None = None) -> dict:
    """Verify and store every recording in an inbox folder tree; write a summary.
    Safe to run again: what is stored is skipped, what is half-done is completed.
    `min_age_s` overrides batch.min_age_s (files changed more recently are left)."""
    from verifier.config import load_settings
    from storage import batches

    from pipelines.batch_summary import check_reports_dir

    settings = load_settings(config)
    check_reports_dir(settings)  # unusable: bad input now, not after the whole run
    conc = int(concurrency or settings.batch.concurrency)
    if conc < 1:
        raise ValueError(f"concurrency must be at least 1, got {conc}")
    if min_age_s is not None and not 0 <= float(min_age_s) <= 86400:
        raise ValueError(f"min_age_s must be between 0 and 86400 seconds, got {min_age_s}")
    inbox = str(Path(inbox).resolve())
    from pipelines.inbox import scan_inbox
    scan_inbox(inbox, 0)  # a missing inbox is bad input: fail before starting a run
    with _runtime(settings, conc, batch=_flow_run_id() or uuid.uuid4().hex) as (key, rt):
        batches.begin(rt.store, inbox, conc, branch, batch_key=key)
        try:
            entries = scan_inbox_task(inbox, settings.batch.min_age_s if min_age_s is None
                                      else float(min_age_s))
            items: list[dict] = []
            pending = []
            for e in entries:
                if e["problem"] is not None:
                    items.append(_refused(rt, e))
                    continue
                while len(pending) >= conc:
                    done = next(as_completed(pending))
                    pending.remove(done)
                    items.append(done.result())
                pending.append(process_recording.submit(key, e["path"], e["sidecar"], e["rel"],
                                                        branch))
            for f in as_completed(pending):
                items.append(f.result())
            counts = batches.finish(rt.store, key)
            summary_path = write_summary(key)
            batches.set_summary_path(rt.store, key, summary_path)
        except BaseException as exc:
            if not isinstance(exc, Exception):  # a signal under a deployment's worker
                from pipelines.batch_summary import mark_interrupted
                mark_interrupted(rt.store, f"stopped by {type(exc).__name__}", batch_key=key)
            raise
    items.sort(key=lambda it: it["path"])
    return {**counts, "batch": key, "inbox": inbox, "branch": branch,
            "concurrency": conc, "summary": summary_path,
            "recordings": [{k: it.get(k) for k in ("recording_id", "verdict", "outcome",
                                                   "path", "reason", "timeline")}
                           for it in items]}


def _refused(rt: Runtime, e: dict) -> dict:
    from storage import batches

    outcome = "deferred" if e["deferred"] else "rejected"
    item = {"path": e["rel"], "recording_id": e.get("recording_id"), "outcome": outcome,
            "verdict": None if e["deferred"] else "error", "reason": e["problem"],
            "sha256": None, "seconds": 0.0}
    batches.record_item(rt.store, rt.batch, e["rel"], outcome, verdict=item["verdict"],
                        reason=e["problem"], seconds=0.0)
    if PROGRESS is not None:
        PROGRESS(item)
    return item


@flow(name="verify-recording", log_prints=True)
def verify_recording(media: str, meta: str | None = None, ruleset: str | None = None,
                     config: str | None = None) -> dict:
    """One recording on demand: verify, store, draw its timeline; the ingest result
    with the stored report."""
    from verifier.config import load_settings

    settings = load_settings(config)
    with _runtime(settings, 1) as (key, rt):
        item = process_one(key, str(Path(media).resolve()), meta, Path(media).name,
                           ruleset=ruleset)
        report = _stored_report(rt, item["run_id"]) if item.get("run_id") else None
    return {**item, "report": report}


@task(name="sweep-store")
def sweep_task(config: str | None, as_of: str | None, dry_run: bool) -> dict:
    from datetime import date

    from verifier.config import load_settings
    from storage.db import open_store
    from storage.retention import sweep

    day = date.fromisoformat(as_of) if as_of else None
    with open_store(load_settings(config)) as store:
        return sweep(store, day, dry_run=dry_run).to_dict()


@flow(name="retention-sweep", log_prints=True)
def retention_sweep(as_of: str | None = None, dry_run: bool = False,
                    config: str | None = None) -> dict:
    """Purge media whose retention has ended and that no legal hold covers."""
    result = sweep_task(config, as_of, dry_run)
    if result["errors"]:
        raise RuntimeError(f"retention sweep: {len(result['errors'])} objects could not be "
                           f"purged: {result['errors'][:3]}")
    return result
