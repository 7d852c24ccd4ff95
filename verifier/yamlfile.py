"""Reading the project's YAML data files (config, rulesets, retention policy) with
errors that name the file and the offending key, never a traceback."""
from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(path: Path, what: str, error: type[Exception]) -> Any:
    """The parsed document; `error("<what> not found: …")` or `("… is unreadable: …")`."""
    try:
        return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_LOADER)
    except FileNotFoundError:
        raise error(f"{what} not found: {path}") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise error(f"{what} {path} is unreadable: {exc}") from None


def validate(model: type[M], data: Any, label: str, error: type[Exception]) -> M:
    """`model` from `data`, or `error("<label>: <key.path>: <problem>")` for the first
    problem."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise error(f"{label}: {where}: {first['msg']}") from None
