"""Schedules and scale-out with Prefect: `dualrec deploy` (issue 5).

One Prefect server at head office; one process work pool; one work queue per branch
(`branch-<ID>`) whose concurrency limit is the number of that branch's flow runs that
may run at once; one worker per branch server polling its own queue. Deployments:

- `nightly-batch/nightly-batch-<ID>` per branch: the nightly batch over the branch's
  inbox, on the branch's queue, cron default "0 1 * * *" (Asia/Shanghai);
- `verify-recording/verify-recording-<ID>` per branch, unscheduled: one recording on
  demand (parameter `media`, a path on the branch server), on the branch's queue;
- `retention-sweep/retention-sweep`: weekly, "0 3 * * 0", on the head office's queue.

The deployment file (configs/deploy.example.yaml) is data; this module turns it into a
plan, and applies the plan through Prefect's own API (work pool and queue endpoints of
the client, `flow.from_source(...).to_deployment(...).apply()` for the deployments), so
running it again updates what exists instead of adding to it.

The Prefect server is the one PREFECT_API_URL names (env or the active Prefect profile);
without one, or when it does not answer, `DeployError` (exit 2) says so in one line;
Prefect's own fallback, a temporary in-process server, is never used.

`--prune` (`deploy(..., prune=True)`), after the plan is applied: every deployment on
the server that dualrec made for the plan's work pool (its flow is one of DUALREC_FLOWS,
its work pool is the plan's, it is tagged "dualrec") whose name is not in the plan is
deleted (the server deletes its scheduled runs with it); nothing of another flow or
another pool is touched. The work queue such a deployment ran on, when no planned queue
has its name and no deployment is left on it, is paused, not deleted (a worker left on
the branch server takes nothing from it; its history stays); its description says so,
and a later `dualrec deploy` that plans that queue again resumes it. A dry run does not
prune: listing what would go needs the server, and a dry run contacts none.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from verifier.yamlfile import load_yaml, validate

REPO_ROOT = Path(__file__).resolve().parent.parent
NIGHTLY_ENTRYPOINT = "pipelines/flows.py:nightly_batch"
RETENTION_ENTRYPOINT = "pipelines/flows.py:retention_sweep"
VERIFY_ENTRYPOINT = "pipelines/flows.py:verify_recording"
HEALTH_TIMEOUT_S = 10.0
# The flows dualrec deploys (the flow names of the entrypoints above); `--prune` looks
# only at deployments of these flows, tagged DUALREC_TAG, in the plan's work pool.
DUALREC_FLOWS = ("nightly-batch", "verify-recording", "retention-sweep")
DUALREC_TAG = "dualrec"
# The description of a queue `--prune` paused starts so; such a queue is resumed when a
# later deploy plans it again (a queue paused by hand stays paused).
PRUNED_QUEUE_MARK = "dualrec: paused by `dualrec deploy --prune`"
_PAGE = 100
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class DeployError(ValueError):
    """A bad deployment file, or no Prefect server to deploy to."""

    def __init__(self, message: str, exit_code: int = 2):
        super().__init__(message)
        self.exit_code = exit_code


# --------------------------------------------------------------------------- the file

def _check_cron(value: str) -> str:
    from prefect.client.schemas.schedules import CronSchedule
    from pydantic import ValidationError

    try:
        CronSchedule(cron=value)
    except ValidationError:
        raise ValueError(f"not a valid cron expression: {value!r} "
                         "(five fields: minute hour day month weekday)") from None
    return value


def _check_name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError(f"{value!r}: use letters, digits, '.', '_' and '-' (at most 64)")
    return value


def _check_abs(value: Path) -> Path:
    if not value.is_absolute():
        raise ValueError(f"{value}: must be an absolute path (a path on the worker's host)")
    return value


def _check_tz(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (an IANA name, e.g. Asia/Shanghai)")
    return value


Name = Annotated[str, AfterValidator(_check_name)]
CronText = Annotated[str, AfterValidator(_check_cron)]
AbsPath = Annotated[Path, AfterValidator(_check_abs)]


class BranchSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Name
    inbox: AbsPath                                 # folder on the branch server
    # flow runs of this branch at once: the concurrency limit of its work queue
    concurrency_limit: int = Field(default=1, ge=1, le=100)
    # recordings verified at once within one run: the flow's `concurrency` parameter
    concurrency: int | None = Field(default=None, ge=1, le=64)
    cron: CronText | None = None                   # default: nightly_batch.cron
    work_queue: Name | None = None                 # default: branch-<id>
    job_variables: dict[str, Any] = Field(default_factory=dict)


class NightlySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cron: CronText = "0 1 * * *"
    entrypoint: str = NIGHTLY_ENTRYPOINT


class OnDemandSpec(BaseModel):
    """One unscheduled deployment per branch that verifies and stores one recording
    when someone asks (`prefect deployment run ... --param media=PATH`)."""
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    entrypoint: str = VERIFY_ENTRYPOINT


class RetentionSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    cron: CronText = "0 3 * * 0"
    work_queue: Name = "head-office"
    concurrency_limit: int = Field(default=1, ge=1, le=100)
    entrypoint: str = RETENTION_ENTRYPOINT
    job_variables: dict[str, Any] = Field(default_factory=dict)


class DeploySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    work_pool: Name = "dualrec"
    timezone: Annotated[str, AfterValidator(_check_tz)] = "Asia/Shanghai"
    # Where dualrec is installed on the worker hosts (the same path on every host);
    # default: the checkout running `dualrec deploy`. Relative: to the deployment file.
    source: Path | None = None
    # A dualrec config file on the worker hosts, passed to the flows as `config`;
    # None: the flows use the worker's environment (DUALREC_CONFIG, DUALREC_DB_URL, ...).
    config: AbsPath | None = None
    job_variables: dict[str, Any] = Field(default_factory=dict)
    nightly_batch: NightlySpec = Field(default_factory=NightlySpec)
    verify_recording: OnDemandSpec = Field(default_factory=OnDemandSpec)
    retention_sweep: RetentionSpec = Field(default_factory=RetentionSpec)
    branches: list[BranchSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct(self) -> "DeploySpec":
        ids = [b.id for b in self.branches]
        for i, b in enumerate(self.branches):
            if ids.index(b.id) != i:
                raise ValueError(f"branch {b.id} is listed twice")
        queues = [queue_of(b) for b in self.branches]
        if len(set(queues)) != len(queues):
            raise ValueError("two branches share a work queue; each branch needs its own "
                             "(its concurrency limit is the branch's)")
        if self.retention_sweep.enabled and self.retention_sweep.work_queue in queues:
            raise ValueError(f"retention_sweep.work_queue {self.retention_sweep.work_queue} "
                             "is a branch's queue; the sweep needs a queue of its own")
        return self


def queue_of(branch: BranchSpec) -> str:
    return branch.work_queue or f"branch-{branch.id}"


def load_deploy_file(path: Path) -> DeploySpec:
    """The deployment file, validated; relative `source` is relative to the file."""
    data = load_yaml(path, "deployment file", DeployError)
    if not isinstance(data, dict):
        raise DeployError(f"deployment file {path}: top level must be a mapping")
    spec = validate(DeploySpec, data, f"deployment file {path}", DeployError)
    if spec.source is not None and not spec.source.is_absolute():
        spec.source = (Path(path).resolve().parent / spec.source).resolve()
    return spec


# --------------------------------------------------------------------------- the plan

@dataclass
class QueuePlan:
    name: str
    concurrency_limit: int
    description: str
    worker_host: str                 # whose worker polls it: "branch BR001", "head office"
    status: str = "planned"          # created | updated | unchanged | resumed


@dataclass
class DeploymentPlan:
    flow_name: str
    name: str
    entrypoint: str
    work_queue: str
    cron: str | None  # None: no schedule, runs only when asked
    timezone: str
    parameters: dict[str, Any]
    tags: list[str]
    description: str
    job_variables: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    status: str = "planned"          # created | updated

    @property
    def full_name(self) -> str:
        return f"{self.flow_name}/{self.name}"


@dataclass
class RemovedDeployment:
    """A deployment `--prune` deleted: dualrec's, in the plan's pool, not in the plan."""
    flow_name: str
    name: str
    id: str
    work_queue: str | None
    tags: list[str]
    status: str = "removed"

    @property
    def full_name(self) -> str:
        return f"{self.flow_name}/{self.name}"


@dataclass
class PausedQueue:
    """The work queue of removed deployments that no planned deployment uses."""
    name: str
    id: str
    status: str = "paused"           # paused | already paused


DRY_RUN_PRUNE_NOTE = ("not planned: pruning needs the server's list of deployments, and "
                      "--dry-run contacts no server; run without --dry-run to prune")


@dataclass
class Plan:
    api_url: str | None
    work_pool: str
    source: str
    queues: list[QueuePlan]
    deployments: list[DeploymentPlan]
    work_pool_status: str = "planned"  # created | exists
    # --prune: False (not asked), True; removed/paused_queues None until pruned
    prune: bool = False
    removed: list[RemovedDeployment] | None = None
    paused_queues: list[PausedQueue] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "api_url": self.api_url,
            "work_pool": {"name": self.work_pool, "type": "process",
                          "status": self.work_pool_status},
            "source": self.source,
            "work_queues": [asdict(q) for q in self.queues],
            "deployments": [{**asdict(d), "name": d.full_name, "deployment_name": d.name}
                            for d in self.deployments],
        }
        if self.prune:  # without --prune the document is what it always was
            pruned = self.removed is not None
            out["prune"] = {"status": "applied" if pruned else DRY_RUN_PRUNE_NOTE}
            out["removed"] = ([{**asdict(r), "name": r.full_name, "deployment_name": r.name}
                               for r in self.removed] if pruned else None)
            out["paused_work_queues"] = ([asdict(q) for q in self.paused_queues]
                                         if pruned else None)
        return out


def make_plan(spec: DeploySpec, api_url: str | None = None) -> Plan:
    source = (spec.source or REPO_ROOT).resolve()
    for entry in (spec.nightly_batch.entrypoint,
                  *([spec.verify_recording.entrypoint] if spec.verify_recording.enabled else []),
                  *([spec.retention_sweep.entrypoint] if spec.retention_sweep.enabled else [])):
        file, _, func = entry.partition(":")
        if not func or not (source / file).is_file():
            raise DeployError(f"entrypoint {entry}: no such flow file under {source} "
                              "(entrypoints are <file relative to source>:<flow function>)")
    common = {"config": str(spec.config)} if spec.config else {}
    queues, deployments = [], []
    for b in spec.branches:
        queue = queue_of(b)
        queues.append(QueuePlan(queue, b.concurrency_limit,
                                f"Branch {b.id}: its worker polls this queue; at most "
                                f"{b.concurrency_limit} of its flow runs at a time.",
                                f"branch {b.id}"))
        params: dict[str, Any] = {"inbox": str(b.inbox), "branch": b.id, **common}
        if b.concurrency is not None:
            params["concurrency"] = b.concurrency
        deployments.append(DeploymentPlan(
            flow_name="nightly-batch", name=f"nightly-batch-{b.id}",
            entrypoint=spec.nightly_batch.entrypoint, work_queue=queue,
            cron=b.cron or spec.nightly_batch.cron, timezone=spec.timezone,
            parameters=params, tags=["dualrec", "nightly-batch", f"branch:{b.id}"],
            description=f"Nightly batch of branch {b.id}: verify and store every "
                        f"recording in {b.inbox}.",
            job_variables={**spec.job_variables, **b.job_variables}))
    if spec.verify_recording.enabled:
        for b in spec.branches:
            deployments.append(DeploymentPlan(
                flow_name="verify-recording", name=f"verify-recording-{b.id}",
                entrypoint=spec.verify_recording.entrypoint, work_queue=queue_of(b),
                cron=None, timezone=spec.timezone, parameters=dict(common),
                tags=["dualrec", "verify-recording", f"branch:{b.id}"],
                description=f"One recording of branch {b.id} on demand: verify and store "
                            "it (parameter media: its path on the branch server).",
                job_variables={**spec.job_variables, **b.job_variables}))
    r = spec.retention_sweep
    if r.enabled:
        queues.append(QueuePlan(r.work_queue, r.concurrency_limit,
                                f"Head office: the retention sweep, at most "
                                f"{r.concurrency_limit} at a time.", "head office"))
        deployments.append(DeploymentPlan(
            flow_name="retention-sweep", name="retention-sweep", entrypoint=r.entrypoint,
            work_queue=r.work_queue, cron=r.cron, timezone=spec.timezone,
            parameters=dict(common), tags=["dualrec", "retention-sweep"],
            description="Weekly retention sweep of the central store: purge media whose "
                        "retention has ended and that no legal hold covers.",
            job_variables={**spec.job_variables, **r.job_variables}))
    return Plan(api_url, spec.work_pool, str(source), queues, deployments)


# --------------------------------------------------------------------------- the server

def prefect_api_url() -> str:
    """PREFECT_API_URL (env or profile), checked to answer /health; else DeployError."""
    from prefect.settings import PREFECT_API_URL

    url = (PREFECT_API_URL.value() or "").strip()
    if not url:
        raise DeployError("no Prefect server configured: set PREFECT_API_URL to the head "
                          "office's server, e.g. http://prefect.example:4200/api")
    if not re.match(r"^https?://", url):
        raise DeployError(f"PREFECT_API_URL={url!r} is not an http(s) URL of a Prefect "
                          "server's API (e.g. http://prefect.example:4200/api)")
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True,
                    httpx_settings={"timeout": HEALTH_TIMEOUT_S}) as client:
        exc = client.api_healthcheck()
    if exc is not None:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DeployError(f"Prefect server at {url} is not reachable ({reason}); "
                          "is it running, and is PREFECT_API_URL right?")
    return url


def apply_plan(plan: Plan) -> Plan:
    """Create or update the work pool, queues and deployments of `plan` on the server."""
    from prefect import flow as prefect_flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
    from prefect.schedules import Cron
    from prefect.workers.process import ProcessWorker

    from verifier import __version__

    with get_client(sync_client=True) as client:
        try:
            pool = client.read_work_pool(plan.work_pool)
            plan.work_pool_status = "exists"
        except ObjectNotFound:
            try:
                pool = client.create_work_pool(WorkPoolCreate(
                    name=plan.work_pool, type="process",
                    description="dualrec: nightly batches on branch servers, retention "
                                "sweep at head office",
                    base_job_template=ProcessWorker.get_default_base_job_template()))
                plan.work_pool_status = "created"
            except ObjectAlreadyExists:  # created meanwhile by another deploy
                pool = client.read_work_pool(plan.work_pool)
                plan.work_pool_status = "exists"
        if pool.type != "process":
            raise DeployError(f"work pool {plan.work_pool} exists with type {pool.type!r}; "
                              "dualrec needs a 'process' pool (choose another work_pool "
                              "name)")
        for q in plan.queues:
            try:
                existing = client.read_work_queue_by_name(q.name, work_pool_name=plan.work_pool)
            except ObjectNotFound:
                client.create_work_queue(name=q.name, work_pool_name=plan.work_pool,
                                         concurrency_limit=q.concurrency_limit,
                                         description=q.description)
                q.status = "created"
                continue
            if existing.is_paused and (existing.description or "").startswith(
                    PRUNED_QUEUE_MARK):  # its branch is back: `--prune` paused it
                client.update_work_queue(existing.id, concurrency_limit=q.concurrency_limit,
                                         description=q.description, is_paused=False)
                q.status = "resumed"
            elif (existing.concurrency_limit, existing.description) != (q.concurrency_limit,
                                                                        q.description):
                client.update_work_queue(existing.id, concurrency_limit=q.concurrency_limit,
                                         description=q.description)
                q.status = "updated"
            else:
                q.status = "unchanged"

        flows: dict[str, Any] = {}
        for d in plan.deployments:
            try:
                client.read_deployment_by_name(d.full_name)
                d.status = "updated"
            except ObjectNotFound:
                d.status = "created"
            if d.entrypoint not in flows:
                flows[d.entrypoint] = prefect_flow.from_source(source=plan.source,
                                                               entrypoint=d.entrypoint)
            f = flows[d.entrypoint]
            if f.name != d.flow_name:
                raise DeployError(f"entrypoint {d.entrypoint} is flow {f.name!r}, expected "
                                  f"{d.flow_name!r}")
            runner = f.to_deployment(
                name=d.name,
                schedules=([Cron(d.cron, timezone=d.timezone, slug=f"{d.name}-cron")]
                           if d.cron else []),
                parameters=d.parameters, description=d.description, tags=d.tags,
                version=__version__, work_pool_name=plan.work_pool,
                work_queue_name=d.work_queue, job_variables=dict(d.job_variables))
            d.id = str(runner.apply())
    return plan


def _dualrec_deployments(client, work_pool: str) -> list[tuple[str, Any]]:
    """(flow name, deployment) of every deployment on the server that dualrec made for
    `work_pool`: flow one of DUALREC_FLOWS, work pool `work_pool`, tagged DUALREC_TAG.
    The server filters; each condition is checked again here, so that a filter the
    server ignored could not widen the selection."""
    from prefect.client.schemas.filters import (DeploymentFilter, DeploymentFilterTags,
                                                FlowFilter, FlowFilterName, WorkPoolFilter,
                                                WorkPoolFilterName)
    from prefect.client.schemas.sorting import DeploymentSort

    flow_names = {f.id: f.name for f in client.read_flows(
        flow_filter=FlowFilter(name=FlowFilterName(any_=list(DUALREC_FLOWS))))
        if f.name in DUALREC_FLOWS}
    if not flow_names:
        return []
    found: dict[Any, tuple[str, Any]] = {}
    offset = 0
    while True:
        page = client.read_deployments(
            flow_filter=FlowFilter(name=FlowFilterName(any_=list(DUALREC_FLOWS))),
            work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=[work_pool])),
            deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=[DUALREC_TAG])),
            sort=DeploymentSort.NAME_ASC, limit=_PAGE, offset=offset)
        for d in page:
            if (d.flow_id in flow_names and d.work_pool_name == work_pool
                    and DUALREC_TAG in (d.tags or [])):
                found[d.id] = (flow_names[d.flow_id], d)
        if len(page) < _PAGE:
            break
        offset += _PAGE
    return sorted(found.values(), key=lambda fd: (fd[0], fd[1].name))


def prune_plan(plan: Plan) -> Plan:
    """After `apply_plan`: delete dualrec's deployments in the plan's pool that the plan
    no longer has; pause the queues they used that nothing planned or left uses."""
    from datetime import datetime, timezone

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import WorkPoolFilter, WorkPoolFilterName
    from prefect.client.schemas.sorting import DeploymentSort
    from prefect.exceptions import ObjectNotFound

    planned = {d.full_name for d in plan.deployments}
    planned_queues = {q.name for q in plan.queues}
    plan.prune, plan.removed, plan.paused_queues = True, [], []
    with get_client(sync_client=True) as client:
        mine = _dualrec_deployments(client, plan.work_pool)
        for flow_name, d in mine:
            if f"{flow_name}/{d.name}" in planned:
                continue
            try:
                client.delete_deployment(d.id)
            except ObjectNotFound:  # deleted meanwhile by someone else
                continue
            plan.removed.append(RemovedDeployment(flow_name, d.name, str(d.id),
                                                  d.work_queue_name, list(d.tags or [])))
        candidates = sorted({r.work_queue for r in plan.removed if r.work_queue}
                            - planned_queues - {"default"})
        if not candidates:
            return plan
        # a queue something else still uses (a deployment of another flow in this pool)
        # is left running
        used: set[str] = set()
        offset = 0
        while True:
            page = client.read_deployments(
                work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=[plan.work_pool])),
                sort=DeploymentSort.NAME_ASC, limit=_PAGE, offset=offset)
            used.update(d.work_queue_name for d in page
                        if d.work_pool_name == plan.work_pool and d.work_queue_name)
            if len(page) < _PAGE:
                break
            offset += _PAGE
        when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        for name in candidates:
            if name in used:
                continue
            try:
                queue = client.read_work_queue_by_name(name, work_pool_name=plan.work_pool)
            except ObjectNotFound:
                continue
            if queue.is_paused:
                plan.paused_queues.append(PausedQueue(name, str(queue.id), "already paused"))
                continue
            client.update_work_queue(
                queue.id, is_paused=True,
                description=f"{PRUNED_QUEUE_MARK} at {when}: no deployment of the "
                            "deployment file uses this queue any more. "
                            f"Before: {queue.description or ''}".strip())
            plan.paused_queues.append(PausedQueue(name, str(queue.id)))
    return plan


def deploy(path: Path, dry_run: bool = False, prune: bool = False) -> Plan:
    """Read the deployment file and (unless `dry_run`) apply it to the Prefect server;
    with `prune` (and not `dry_run`), then delete dualrec's deployments in the pool that
    the file no longer has and pause their queues (`prune_plan`)."""
    spec = load_deploy_file(path)
    if dry_run:
        from prefect.settings import PREFECT_API_URL
        plan = make_plan(spec, PREFECT_API_URL.value() or None)
        plan.prune = prune  # asked for, not planned: removed stays None
        return plan
    plan = apply_plan(make_plan(spec, prefect_api_url()))
    return prune_plan(plan) if prune else plan


def render(plan: Plan, dry_run: bool) -> str:
    verb = "would create or update" if dry_run else "applied"
    where = plan.api_url or "(PREFECT_API_URL not set)"
    lines = [f"Prefect server {where}: {verb}",
             f"  work pool  {plan.work_pool} (process){_st(plan.work_pool_status)}"]
    for q in plan.queues:
        lines.append(f"  work queue {q.name}: concurrency limit {q.concurrency_limit}"
                     f"{_st(q.status)}")
    for d in plan.deployments:
        when = f"cron '{d.cron}' {d.timezone}" if d.cron else "on demand"
        lines.append(f"  deployment {d.full_name}: {when}, queue "
                     f"{d.work_queue}, parameters {d.parameters}{_st(d.status)}")
    if plan.prune and plan.removed is None:
        lines.append(f"  prune: {DRY_RUN_PRUNE_NOTE}")
    elif plan.prune:
        for r in plan.removed:
            lines.append(f"  deployment {r.full_name}: not in the deployment file, queue "
                         f"{r.work_queue}{_st(r.status)}")
        for pq in plan.paused_queues or []:
            lines.append(f"  work queue {pq.name}: no deployment uses it; paused, its "
                         f"worker can be stopped{_st(pq.status)}")
        if not plan.removed:
            lines.append(f"  prune: nothing to remove (every dualrec deployment in pool "
                         f"{plan.work_pool} is in the deployment file)")
    lines.append("workers (PREFECT_API_URL pointing at this server):")
    for q in plan.queues:
        lines.append(f"  {q.worker_host + ':':<14} prefect worker start --pool {plan.work_pool}"
                     f" --type process --work-queue {q.name}")
    return "\n".join(lines)


def _st(status: str) -> str:
    return "" if status == "planned" else f"  [{status}]"
