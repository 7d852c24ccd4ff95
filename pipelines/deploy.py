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
    status: str = "planned"          # created | updated | unchanged


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
class Plan:
    api_url: str | None
    work_pool: str
    source: str
    queues: list[QueuePlan]
    deployments: list[DeploymentPlan]
    work_pool_status: str = "planned"  # created | exists

    def to_dict(self) -> dict[str, Any]:
        return {
            "api_url": self.api_url,
            "work_pool": {"name": self.work_pool, "type": "process",
                          "status": self.work_pool_status},
            "source": self.source,
            "work_queues": [asdict(q) for q in self.queues],
            "deployments": [{**asdict(d), "name": d.full_name, "deployment_name": d.name}
                            for d in self.deployments],
        }


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
            if (existing.concurrency_limit, existing.description) != (q.concurrency_limit,
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


def deploy(path: Path, dry_run: bool = False) -> Plan:
    """Read the deployment file and (unless `dry_run`) apply it to the Prefect server."""
    spec = load_deploy_file(path)
    if dry_run:
        from prefect.settings import PREFECT_API_URL
        return make_plan(spec, PREFECT_API_URL.value() or None)
    return apply_plan(make_plan(spec, prefect_api_url()))


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
    lines.append("workers (PREFECT_API_URL pointing at this server):")
    for q in plan.queues:
        lines.append(f"  {q.worker_host + ':':<14} prefect worker start --pool {plan.work_pool}"
                     f" --type process --work-queue {q.name}")
    return "\n".join(lines)


def _st(status: str) -> str:
    return "" if status == "planned" else f"  [{status}]"
