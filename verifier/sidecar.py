"""Sale metadata sidecar (CONTRACT section 1): ``<stem>.json`` next to the media file.

:func:`load_sidecar` reads and validates it; every problem becomes a
:class:`SidecarError` whose message names the sidecar file, the field and the problem in
plain words, e.g. ``sidecar BR1.json: product_risk_level: must be one of R1..R5, got 'R9'``.
Personal data (``customer_id``, ``customer_name``) is never echoed in messages or in
``repr()``.
"""

from __future__ import annotations

import json
import math
import os
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from verifier.privacy import mask_id, mask_name

__all__ = [
    "Sidecar",
    "SidecarError",
    "load_sidecar",
    "sidecar_path_for",
    "PRODUCT_CATEGORIES",
    "PRODUCT_RISK_LEVELS",
    "CUSTOMER_RISK_LEVELS",
    "MAX_SIDECAR_BYTES",
]

PRODUCT_CATEGORIES = ("wealth", "agency_fund", "agency_insurance", "agency_trust", "agency_other")
PRODUCT_RISK_LEVELS = ("R1", "R2", "R3", "R4", "R5")
CUSTOMER_RISK_LEVELS = ("C1", "C2", "C3", "C4", "C5")
MAX_SIDECAR_BYTES = 1024 * 1024
MAX_ID_LEN = 128
MAX_NAME_LEN = 512  # product names are free text, longer than ids
MIN_YEAR, MAX_YEAR = 1990, 2200
MAX_AUDIO_OFFSET_S = 3600.0
MAX_CHANNEL = 7
PERSONAL_FIELDS = frozenset({"customer_id", "customer_name"})

_SAFE_ID_RE = re.compile(r"^[^\W][\w.\-]*$")  # letters/digits/_ first, then also - and .
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


class SidecarError(ValueError):
    """A sidecar that is missing, unreadable or invalid.

    ``field``: the (first) offending field, or None for file-level problems.
    ``problems``: every ``(field, problem)`` found. ``path``: the sidecar file.
    """

    def __init__(self, problem: str, field: str | None = None, path: str | os.PathLike | None = None,
                 problems: list[tuple[str | None, str]] | None = None):
        self.field = field
        self.path = None if path is None else Path(path)
        self.problems = problems or [(field, problem)]
        where = f"sidecar {self.path.name}" if self.path is not None else "sidecar"
        parts = [f"{f}: {p}" if f else p for f, p in self.problems]
        super().__init__(f"{where}: " + "; ".join(parts))

    @property
    def problem(self) -> str:
        return self.problems[0][1]


# --------------------------------------------------------------------------- helpers


def _fail(msg: str) -> PydanticCustomError:
    return PydanticCustomError("sidecar", msg)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _show(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _got(value: Any, personal: bool = False) -> str:
    """How to quote a bad value in a message (never the value of personal data)."""
    if personal:
        return _kind(value)
    if isinstance(value, str):
        return _show(value)
    if isinstance(value, bool) or value is None:
        return json.dumps(value)  # JSON spelling: true, false, null
    if isinstance(value, (int, float)):
        return _show(value)
    return _kind(value)


def _text(value: Any, field: str, *, required: bool = True, max_len: int = MAX_ID_LEN) -> str | None:
    personal = field in PERSONAL_FIELDS
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise _fail(f"must be a string, got {_got(value, personal)}")
    value = value.strip()
    if not value:
        raise _fail("must not be empty")
    if len(value) > max_len:
        raise _fail(f"is too long ({len(value)} characters; at most {max_len})")
    if _CONTROL_RE.search(value):
        raise _fail("must not contain control characters (line breaks, tabs, NUL)")
    return value


def _safe_id(value: Any, field: str, *, required: bool = True) -> str | None:
    value = _text(value, field, required=required)
    if value is None:
        return None
    if not _SAFE_ID_RE.match(value):
        if "/" in value or "\\" in value:
            why = "must not contain path separators"
        elif value.startswith((".", "-")):
            why = "must not start with '.' or '-'"
        else:
            why = "may only contain letters, digits, '-', '_' and '.'"
        raise _fail(f"{why} (it becomes a file name), got {_show(value)}")
    return value


def _year_ok(year: int) -> bool:
    return MIN_YEAR <= year <= MAX_YEAR


# --------------------------------------------------------------------------- the model


class Sidecar(BaseModel):
    """Sale metadata of one recording (CONTRACT section 1). Extra fields are kept."""

    model_config = ConfigDict(extra="allow", validate_assignment=False)

    recording_id: str
    branch_id: str
    staff_id: str
    customer_id: str
    customer_name: str | None = None
    product_code: str
    product_name: str
    product_category: Literal["wealth", "agency_fund", "agency_insurance", "agency_trust", "agency_other"]
    product_risk_level: Literal["R1", "R2", "R3", "R4", "R5"]
    customer_risk_level: Literal["C1", "C2", "C3", "C4", "C5"]
    sale_time: datetime
    maturity_date: date | None  # required key; null = open-ended (no fixed term)
    audio_file: str | None = None
    audio_offset_s: float = 0.0
    audio_channels: dict[str, int] | None = None
    ruleset: str | None = None

    _audio_path: Path | None = PrivateAttr(default=None)
    _source: Path | None = PrivateAttr(default=None)
    _media_path: Path | None = PrivateAttr(default=None)

    # -- ids and text
    @field_validator("recording_id", "ruleset", mode="before")
    @classmethod
    def _v_safe_id(cls, v, info):
        return _safe_id(v, info.field_name, required=info.field_name == "recording_id")

    @field_validator("branch_id", "staff_id", "customer_id", "product_code", mode="before")
    @classmethod
    def _v_text(cls, v, info):
        return _text(v, info.field_name)

    @field_validator("product_name", mode="before")
    @classmethod
    def _v_product_name(cls, v, info):
        return _text(v, info.field_name, max_len=MAX_NAME_LEN)

    @field_validator("customer_name", mode="before")
    @classmethod
    def _v_name(cls, v, info):
        return _text(v, info.field_name, required=False)

    # -- enums
    @field_validator("product_category", mode="before")
    @classmethod
    def _v_category(cls, v):
        if isinstance(v, str) and v.strip().lower() in PRODUCT_CATEGORIES:
            return v.strip().lower()
        raise _fail(f"must be one of {', '.join(PRODUCT_CATEGORIES)}, got {_got(v)}")

    @field_validator("product_risk_level", mode="before")
    @classmethod
    def _v_product_risk(cls, v):
        if isinstance(v, str) and v.strip().upper() in PRODUCT_RISK_LEVELS:
            return v.strip().upper()
        raise _fail(f"must be one of R1..R5, got {_got(v)}")

    @field_validator("customer_risk_level", mode="before")
    @classmethod
    def _v_customer_risk(cls, v):
        if isinstance(v, str) and v.strip().upper() in CUSTOMER_RISK_LEVELS:
            return v.strip().upper()
        raise _fail(f"must be one of C1..C5, got {_got(v)}")

    # -- times
    @field_validator("sale_time", mode="before")
    @classmethod
    def _v_sale_time(cls, v):
        if isinstance(v, datetime):
            dt = v
        elif isinstance(v, str):
            try:
                dt = datetime.fromisoformat(v.strip())
            except ValueError:
                raise _fail("must be an ISO 8601 date and time with a UTC offset, "
                            f"like 2026-11-21T10:15:00+08:00, got {_show(v)}") from None
        else:
            raise _fail(f"must be an ISO 8601 string like 2026-11-21T10:15:00+08:00, got {_got(v)}")
        if dt.tzinfo is None or dt.utcoffset() is None:
            raise _fail(f"must include a UTC offset (like +08:00), got {_got(v)}")
        if not _year_ok(dt.year):
            raise _fail(f"year {dt.year} is out of range {MIN_YEAR}..{MAX_YEAR}")
        return dt

    @field_validator("maturity_date", mode="before")
    @classmethod
    def _v_maturity(cls, v):
        if v is None:
            return None
        if isinstance(v, date) and not isinstance(v, datetime):
            d = v
        elif isinstance(v, str):
            s = v.strip()
            m = re.fullmatch(r"(\d{4,})-(\d{2})-(\d{2})", s)
            if m and not _year_ok(int(m.group(1))):
                raise _fail(f"year {int(m.group(1))} is out of range {MIN_YEAR}..{MAX_YEAR}")
            try:
                d = date.fromisoformat(s) if m else None
            except ValueError:
                d = None
            if d is None:
                raise _fail(f"must be an ISO date (YYYY-MM-DD) or null, got {_show(v)}")
        else:
            raise _fail(f"must be an ISO date string (YYYY-MM-DD) or null, got {_got(v)}")
        if not _year_ok(d.year):
            raise _fail(f"year {d.year} is out of range {MIN_YEAR}..{MAX_YEAR}")
        return d

    # -- audio
    @field_validator("audio_file", mode="before")
    @classmethod
    def _v_audio_file(cls, v):
        if v is None:
            return None
        if not isinstance(v, str):
            raise _fail(f"must be a string (a path relative to the sidecar), got {_got(v)}")
        s = v.strip()
        if not s:
            raise _fail("must not be empty (leave it out if there is no separate audio file)")
        if _CONTROL_RE.search(s):
            raise _fail("must not contain control characters")
        if "\\" in s:
            raise _fail(f"must use '/' as the folder separator, got {_show(s)}")
        if s.startswith("/") or re.match(r"^[A-Za-z]:", s) or s.startswith("~"):
            raise _fail(f"must be a path relative to the sidecar's folder, not absolute, got {_show(s)}")
        if ".." in s.split("/"):
            raise _fail(f"must not contain '..' (the file must be in the sidecar's folder), got {_show(s)}")
        if len(s) > 1024:
            raise _fail("is too long")
        return s

    @field_validator("audio_offset_s", mode="before")
    @classmethod
    def _v_offset(cls, v):
        if v is None:
            return 0.0
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise _fail(f"must be a number of seconds, got {_got(v)}")
        x = float(v)
        if not math.isfinite(x):
            raise _fail(f"must be a finite number of seconds, got {_show(v)}")
        if abs(x) > MAX_AUDIO_OFFSET_S:
            raise _fail(f"must be within ±{MAX_AUDIO_OFFSET_S:g} s, got {x:g}")
        return x

    @field_validator("audio_channels", mode="before")
    @classmethod
    def _v_channels(cls, v):
        if v is None:
            return None
        if not isinstance(v, dict):
            raise _fail(f'must be an object like {{"staff": 0, "customer": 1}}, got {_got(v)}')
        keys = set(v)
        if keys != {"staff", "customer"}:
            got = ", ".join(sorted(_show(k, 20) for k in keys)) or "no keys"
            raise _fail(f"must have exactly the keys 'staff' and 'customer', got {got}")
        for role in ("staff", "customer"):
            ch = v[role]
            if isinstance(ch, bool) or not isinstance(ch, int):
                raise _fail(f"{role}: channel must be an integer 0..{MAX_CHANNEL}, got {_got(ch)}")
            if not 0 <= ch <= MAX_CHANNEL:
                raise _fail(f"{role}: channel must be 0..{MAX_CHANNEL}, got {ch}")
        if v["staff"] == v["customer"]:
            raise _fail(f"staff and customer must be on different channels, both are {v['staff']}")
        return {"staff": v["staff"], "customer": v["customer"]}

    # -- cross-field
    @model_validator(mode="after")
    def _v_dates(self):
        if self.maturity_date is not None and self.maturity_date < self.sale_time.date():
            raise _fail_field("maturity_date", f"{self.maturity_date.isoformat()} is before the sale date "
                                               f"{self.sale_time.date().isoformat()}")
        return self

    # -- after loading
    @property
    def audio_path(self) -> Path | None:
        """The separate audio file, resolved (absolute) by :func:`load_sidecar`; else None."""
        return self._audio_path

    @property
    def source_path(self) -> Path | None:
        """The sidecar file this was loaded from."""
        return self._source

    @property
    def media_path(self) -> Path | None:
        """The media file this sidecar describes (as given to :func:`load_sidecar`)."""
        return self._media_path

    def masked_dump(self) -> dict[str, Any]:
        """JSON-ready dict with personal data masked (for every user-visible output)."""
        d = self.model_dump(mode="json")
        d["customer_id"] = mask_id(self.customer_id)
        d["customer_name"] = mask_name(self.customer_name)
        return d

    def __repr_args__(self):
        for k, v in super().__repr_args__():
            if k == "customer_id":
                v = mask_id(v)
            elif k == "customer_name":
                v = mask_name(v)
            yield k, v

    @classmethod
    def from_dict(cls, data: Any, *, source: str | os.PathLike | None = None) -> "Sidecar":
        """Validate a parsed sidecar; problems raise :class:`SidecarError`."""
        if not isinstance(data, dict):
            raise SidecarError(f"must be a JSON object {{...}}, got {_kind(data)}", None, source)
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            raise _translate(e, data, source) from None



def _fail_field(field: str, msg: str) -> PydanticCustomError:
    return PydanticCustomError("sidecar_field", "{field}|{msg}", {"field": field, "msg": msg})


def _translate(err: ValidationError, data: dict, source) -> SidecarError:
    problems: list[tuple[str | None, str]] = []
    for e in err.errors(include_url=False, include_input=False):
        loc = [str(x) for x in e.get("loc", ())]
        field = ".".join(loc) or None
        etype = e.get("type")
        if etype == "missing":
            msg = "required field is missing"
        elif etype == "sidecar_field":
            ctx = e.get("ctx") or {}
            field, msg = ctx.get("field"), ctx.get("msg")
        elif etype == "sidecar":
            msg = e.get("msg", "invalid value")
        else:  # a pydantic message; mention the value only for non-personal fields
            msg = e.get("msg", "invalid value")
            if field and field.split(".")[0] not in PERSONAL_FIELDS and loc and loc[0] in data:
                msg = f"{msg[:1].lower()}{msg[1:]}, got {_got(data[loc[0]])}"
        problems.append((field, msg))
    field, msg = problems[0] if problems else (None, "invalid")
    return SidecarError(msg, field, source, problems)


# --------------------------------------------------------------------------- loading


def sidecar_path_for(media_path: str | os.PathLike) -> Path:
    """The default sidecar of a media file: ``<stem>.json`` in the same folder."""
    media = Path(media_path)
    return media.with_name(media.stem + ".json")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    out: dict = {}
    for k, v in pairs:
        if k in out:
            raise _DuplicateKey(k)
        out[k] = v
    return out


class _DuplicateKey(Exception):
    def __init__(self, key: str):
        self.key = key


def load_sidecar(media_path: str | os.PathLike, meta_path: str | os.PathLike | None = None) -> Sidecar:
    """Read and validate the sidecar of ``media_path`` (default ``<stem>.json`` beside it).

    ``recording_id`` defaults to the media file's stem. A separate ``audio_file`` must
    exist inside the sidecar's folder; it is available as ``Sidecar.audio_path``.
    Every problem raises :class:`SidecarError` naming the file and the field.
    """
    media = Path(media_path)
    meta = Path(meta_path) if meta_path is not None else sidecar_path_for(media)

    if not meta.exists():
        raise SidecarError(f"file not found: expected {meta}" +
                           ("" if meta_path is not None else f" next to {media.name}"), None, meta)
    if meta.is_dir():
        raise SidecarError(f"{meta} is a directory, not a JSON file", None, meta)
    try:
        size = meta.stat().st_size
        if size > MAX_SIDECAR_BYTES:
            raise SidecarError(f"file is too large ({size} bytes; the limit is 1 MiB)", None, meta)
        with open(meta, "rb") as f:
            raw = f.read(MAX_SIDECAR_BYTES + 1)
    except SidecarError:
        raise
    except PermissionError:
        raise SidecarError("cannot be read (permission denied)", None, meta) from None
    except OSError as e:
        raise SidecarError(f"cannot be read ({e.strerror or e})", None, meta) from None
    if len(raw) > MAX_SIDECAR_BYTES:
        raise SidecarError("file is too large (the limit is 1 MiB)", None, meta)
    if not raw.strip():
        raise SidecarError("file is empty", None, meta)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise SidecarError(f"is not UTF-8 text (bad byte at offset {e.start})", None, meta) from None
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as e:
        raise SidecarError(f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}", None, meta) from None
    except _DuplicateKey as e:
        raise SidecarError(f"appears more than once in the JSON object", str(e.key)[:64], meta) from None
    except RecursionError:
        raise SidecarError("invalid JSON: nested too deeply", None, meta) from None
    if not isinstance(data, dict):
        raise SidecarError(f"must be a JSON object {{...}} at the top level, got {_kind(data)}", None, meta)

    defaulted = data.get("recording_id") is None
    if defaulted:
        data = {**data, "recording_id": media.stem}
    try:
        sc = Sidecar.from_dict(data, source=meta)
    except SidecarError as e:
        if defaulted and e.field == "recording_id":
            problem = (f"not given, and the media file name {media.stem!r} cannot be used as one: "
                       f"{e.problem}; set recording_id in the sidecar")
            problems = [("recording_id", problem)] + e.problems[1:]
            raise SidecarError(problem, "recording_id", meta, problems) from None
        raise

    sc._source = meta.absolute()
    sc._media_path = media.absolute()
    if sc.audio_file is not None:
        folder = meta.absolute().parent.resolve()
        candidate = (folder / sc.audio_file).resolve()
        try:
            candidate.relative_to(folder)
        except ValueError:
            raise SidecarError(f"{sc.audio_file!r} resolves outside the sidecar's folder (symbolic link?)",
                               "audio_file", meta) from None
        if not candidate.exists():
            raise SidecarError(f"file not found: {sc.audio_file} (looked in {folder})", "audio_file", meta)
        if not candidate.is_file():
            raise SidecarError(f"{sc.audio_file} is not a file", "audio_file", meta)
        sc._audio_path = candidate
    return sc
