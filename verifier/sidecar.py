"""Sale metadata sidecar (CONTRACT section 1): ``<stem>.json`` next to the media file.

:func:`load_sidecar` reads and validates it; every problem becomes a
:class:`SidecarError` whose message names the sidecar file, the field and the problem in
plain words, e.g. ``sidecar BR1.json: product_risk_level: must be one of R1..R5, got 'R9'``.
Personal data (``customer_id``, ``customer_name``) is never echoed in messages or in
``repr()``: any quoted value, field name or file name that contains the customer's ID
number or name is masked, and ``recording_id`` / ``staff_id`` may not contain them at all
(those are shown unmasked everywhere).

The file is read defensively, since sidecars come from branch systems and people: at
most :data:`MAX_SIDECAR_BYTES`, UTF-8 only, and every value checked for what Python's
JSON reader lets through but nothing downstream can handle (numbers too large or not
finite, lone UTF-16 surrogates, nesting deeper than :data:`MAX_DEPTH`).
"""

from __future__ import annotations

import json
import math
import os
import re
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from verifier.privacy import Secret, find_secret, mask_id, mask_name, mask_secrets, personal_secrets

__all__ = [
    "Sidecar",
    "SidecarError",
    "load_sidecar",
    "sidecar_path_for",
    "PRODUCT_CATEGORIES",
    "PRODUCT_RISK_LEVELS",
    "CUSTOMER_RISK_LEVELS",
    "MAX_SIDECAR_BYTES",
    "MAX_DEPTH",
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
MAX_DEPTH = 32  # nesting of lists/objects in a field's value; real metadata is flat
MAX_INT = 2 ** 63 - 1  # the largest integer a database column (and most JSON readers) holds
MAX_LABEL_LEN = 64  # field names quoted in messages
MAX_PROBLEMS = 10  # a damaged file should not make a message of a megabyte
# Fields shown unmasked in every report, log and file name: they may not carry the
# customer's personal data at all (masking them would break search and storage).
UNMASKED_ID_FIELDS = {"recording_id": "recording ids", "staff_id": "staff ids"}

_SAFE_ID_RE = re.compile(r"^[^\W][\w.\-]*$")  # letters/digits/_ first, then also - and .
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_SURROGATE_RE = re.compile("[\ud800-\udfff]")

# The customer's personal data while one sidecar is validated, so that every message built
# meanwhile (deep inside pydantic validators) can mask it; see _masking().
_SECRETS: ContextVar[tuple[Secret, ...]] = ContextVar("sidecar_secrets", default=())


class SidecarError(ValueError):
    """A sidecar that is missing, unreadable or invalid.

    ``field``: the (first) offending field, or None for file-level problems.
    ``problems``: every ``(field, problem)`` found. ``path``: the sidecar file.
    ``display_id``: set by :func:`load_sidecar` once the sidecar was parsed: the media
    file's stem with the customer's ID number and name masked, to show the recording
    under instead of the stem (which may be named after the customer); else None.
    """

    def __init__(self, problem: str, field: str | None = None, path: str | os.PathLike | None = None,
                 problems: list[tuple[str | None, str]] | None = None):
        # Masked here, the one place every message passes: a file name, field name or
        # message text may contain the customer's data (the media file named after them).
        problems = problems or [(field, problem)]
        self.problems = [(None if f is None else _clean(f), _clean(p)) for f, p in problems]
        self.field = None if field is None else _clean(field)
        self.path = None if path is None else Path(path)
        self.display_id: str | None = None
        where = f"sidecar {_label(self.path.name, 200)}" if self.path is not None else "sidecar"
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
    if isinstance(value, (int, float, _BadNumber)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _clean(text: str) -> str:
    """Message text as it may be shown: masked, and valid UTF-8 (a lone surrogate, e.g.
    from a file name that is not UTF-8, escaped: it would break stderr, logs, database)."""
    return _mask(text).encode("utf-8", "backslashreplace").decode("utf-8")


def _mask(text: str) -> str:
    """``text`` with the customer's ID number and name (of the sidecar being read) masked."""
    return mask_secrets(text, _SECRETS.get())


@contextmanager
def _masking(data: Any):
    """Mask the personal data of ``data`` (a parsed sidecar) in every message meanwhile."""
    secrets = (personal_secrets(data.get("customer_id"), data.get("customer_name"))
               if isinstance(data, dict) else ())
    token = _SECRETS.set(secrets)
    try:
        yield
    finally:
        _SECRETS.reset(token)


def _short(text: str, limit: int) -> str:
    # masked before it is cut short: a cut would leave a part of the ID number unmasked
    text = _mask(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _show(value: Any, limit: int = 40) -> str:
    return _short(repr(value), limit)


def _label(name: str, limit: int = MAX_LABEL_LEN) -> str:
    """A field (or file) name as it may appear in a message: one printable line, valid
    text (line breaks, control characters and lone surrogates escaped), masked, short."""
    return _short("".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                          for c in name), limit)


def _no_secret(value: str, field: str) -> str:
    secret = find_secret(value, _SECRETS.get())
    if secret is not None:
        raise _fail(f"must not contain the customer's {secret.what}: "
                    f"{UNMASKED_ID_FIELDS[field]} are shown unmasked in reports and logs")
    return value


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
    if field in UNMASKED_ID_FIELDS:
        _no_secret(value, field)
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

    @field_validator("branch_id", "customer_id", "product_code", mode="before")
    @classmethod
    def _v_text(cls, v, info):
        return _text(v, info.field_name)

    @field_validator("staff_id", mode="before")
    @classmethod
    def _v_staff(cls, v, info):
        return _no_secret(_text(v, info.field_name), info.field_name)

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
            if m and not _year_ok(int(m.group(1)[:64])):  # digits capped: Python's int limit
                raise _fail(f"year {_short(m.group(1), 24)} is out of range {MIN_YEAR}..{MAX_YEAR}")
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
    @model_validator(mode="wrap")
    @classmethod
    def _v_masking(cls, data, handler):
        # validators quote bad values: mask this sidecar's personal data in them, however
        # the model is validated (from_dict, load_sidecar or model_validate)
        with _masking(data):
            return handler(data)

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
        with _masking(data):
            problems = _scan(data)
            if problems:  # unusable values: no field check could describe them better
                raise SidecarError(problems[0][1], problems[0][0], source, problems)
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


# --------------------------------------------------------------------------- unusable values
# What Python's JSON reader lets through but no field, database or report can hold. Each
# is reported with the field it is in, before the fields are checked one by one.


class _BadNumber:
    """Stands in for a JSON number no field can hold (too large, NaN, Infinity), so that
    the problem is reported with its field's name: left to json.loads, a 5000-digit
    integer fails the whole file anonymously, and 1e400 becomes inf."""

    __slots__ = ("problem",)

    def __init__(self, problem: str):
        self.problem = problem


def _parse_int(text: str) -> int | _BadNumber:
    # the length first: int() of more than 4300 digits raises ValueError
    if len(text) - text.startswith("-") > 19 or abs(int(text)) > MAX_INT:
        return _BadNumber("number too large")
    return int(text)


def _parse_float(text: str) -> float | _BadNumber:
    x = float(text)
    return _BadNumber("number too large") if math.isinf(x) else x


def _parse_constant(text: str) -> _BadNumber:
    # NaN, Infinity, -Infinity: not JSON, though Python's reader accepts them
    return _BadNumber(f"{text} is not a finite number (JSON has no NaN or Infinity)")


def _value_problem(value: Any) -> str | None:
    """What makes a single (non-container) value unusable, else None."""
    if isinstance(value, _BadNumber):
        return value.problem
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and abs(value) > MAX_INT:  # from_dict given a Python int
        return "number too large"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value!r} is not a finite number"
    if isinstance(value, str) and _SURROGATE_RE.search(value):
        # "\ud800" in JSON: no UTF-8 spelling, so it breaks every output and the database
        return "not valid Unicode text (lone surrogate)"
    return None


def _join(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def _at(path: str, problem: str) -> str:
    return f"{_label(path)}: {problem}" if path else problem


def _first_problem(value: Any) -> str | None:
    """The first unusable thing in one field's value, with the path to it inside the value
    (``staff: number too large``). Iterative, so that depth cannot exhaust the stack."""
    stack = [("", value, 1)]
    while stack:
        path, v, depth = stack.pop()
        if not isinstance(v, (dict, list)):
            problem = _value_problem(v)
            if problem:
                return _at(path, problem)
            continue
        if depth > MAX_DEPTH:  # the field, not the path: that would be [0][0][0]... itself
            return f"nested too deeply (more than {MAX_DEPTH} levels)"
        children = []
        for k, child in (v.items() if isinstance(v, dict) else enumerate(v)):
            if isinstance(k, str) and _SURROGATE_RE.search(k):
                return _at(_join(path, k), "key is not valid Unicode text (lone surrogate)")
            children.append((_join(path, k), child, depth + 1))
        stack.extend(reversed(children))  # in the file's order
    return None


def _scan(data: dict) -> list[tuple[str | None, str]]:
    """(field, problem) for every top-level field holding an unusable value."""
    problems: list[tuple[str | None, str]] = []
    for key, value in data.items():
        name = key if isinstance(key, str) else str(key)
        if _SURROGATE_RE.search(name):
            problems.append((_label(name), "field name is not valid Unicode text (lone surrogate)"))
            continue
        problem = _first_problem(value)
        if problem:
            problems.append((_label(name), problem))
    if len(problems) > MAX_PROBLEMS:
        more = len(problems) - MAX_PROBLEMS
        problems = problems[:MAX_PROBLEMS] + [(None, f"and {more} more fields with problems")]
    return problems


_TOKEN_RE = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}:]')


def _too_deep_field(text: str) -> str | None:
    """The top-level field in which ``text`` nests deeper than MAX_DEPTH, found without
    parsing (json.loads gave up with RecursionError): strings skipped as whole tokens."""
    depth, last, key = 0, None, None
    for m in _TOKEN_RE.finditer(text):
        token = m.group()
        if token in "[{":
            depth += 1
            if depth > MAX_DEPTH + 1:  # + 1: the top-level object
                break
        elif token in "]}":
            depth -= 1
        elif token == ":":
            key = last if depth == 1 else key
        else:
            last = token
    else:
        return None
    if key is None:
        return None
    try:
        return _label(json.loads(key))
    except ValueError:
        return None


# --------------------------------------------------------------------------- loading


def sidecar_path_for(media_path: str | os.PathLike) -> Path:
    """The default sidecar of a media file: ``<stem>.json`` in the same folder."""
    media = Path(media_path)
    return media.with_name(media.stem + ".json")


def _read(meta: Path, media: Path, given: bool) -> bytes:
    """The sidecar's bytes; at most MAX_SIDECAR_BYTES are ever read."""
    if not meta.exists():
        raise SidecarError(f"file not found: expected {meta}" +
                           ("" if given else f" next to {media.name}"), None, meta)
    if meta.is_dir():
        raise SidecarError(f"{meta} is a directory, not a JSON file", None, meta)
    if not meta.is_file():  # opening a FIFO waits for a writer forever; a device never ends
        raise SidecarError("is not a regular file (a FIFO or a device?)", None, meta)
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
    if len(raw) > MAX_SIDECAR_BYTES:  # grew after stat(), e.g. still being copied
        raise SidecarError("file is too large (the limit is 1 MiB)", None, meta)
    if not raw.strip():
        raise SidecarError("file is empty", None, meta)
    return raw


def _parse(raw: bytes, meta: Path) -> tuple[Any, list[str]]:
    """(the parsed JSON, keys that appear more than once in an object)."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise SidecarError(f"is not UTF-8 text (bad byte at offset {e.start})", None, meta) from None
    duplicates: list[str] = []

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict:
        # noted, not raised: the message may name the key only once the customer's data,
        # to mask in it, is known
        out: dict = {}
        for k, v in pairs:
            if k in out:
                duplicates.append(k)
            else:
                out[k] = v
        return out

    try:
        data = json.loads(text, object_pairs_hook=pairs_hook, parse_int=_parse_int,
                          parse_float=_parse_float, parse_constant=_parse_constant)
    except json.JSONDecodeError as e:
        raise SidecarError(f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}", None, meta) from None
    except RecursionError:
        field = _too_deep_field(text)
        if field is None:
            raise SidecarError("invalid JSON: nested too deeply", None, meta) from None
        raise SidecarError(f"nested too deeply (more than {MAX_DEPTH} levels)", field, meta) from None
    except ValueError:  # a number conversion the hooks above did not catch (Python's limits)
        raise SidecarError("invalid JSON: a number cannot be read (too large)", None, meta) from None
    return data, duplicates


def load_sidecar(media_path: str | os.PathLike, meta_path: str | os.PathLike | None = None) -> Sidecar:
    """Read and validate the sidecar of ``media_path`` (default ``<stem>.json`` beside it).

    ``recording_id`` defaults to the media file's stem. A separate ``audio_file`` must
    exist inside the sidecar's folder; it is available as ``Sidecar.audio_path``.
    Every problem raises :class:`SidecarError` naming the file and the field.
    """
    media = Path(media_path)
    meta = Path(meta_path) if meta_path is not None else sidecar_path_for(media)
    data, duplicates = _parse(_read(meta, media, meta_path is not None), meta)
    if not isinstance(data, dict):
        raise SidecarError(f"must be a JSON object {{...}} at the top level, got {_kind(data)}", None, meta)
    # From here on the customer is known: every message masks their ID number and name
    # (the media file, hence the sidecar's name and the default recording_id, may carry them).
    with _masking(data):
        try:
            if duplicates:
                raise SidecarError("appears more than once in the JSON object", _label(duplicates[0]), meta)
            sc = _validate(data, media, meta)
            sc._source = meta.absolute()
            sc._media_path = media.absolute()
            sc._audio_path = _audio_path(sc, meta)
        except SidecarError as e:
            e.display_id = _label(media.stem, 200)
            raise
    return sc


def _validate(data: dict, media: Path, meta: Path) -> Sidecar:
    defaulted = data.get("recording_id") is None
    if defaulted:
        data = {**data, "recording_id": media.stem}
    try:
        return Sidecar.from_dict(data, source=meta)
    except SidecarError as e:
        if defaulted and e.field == "recording_id":
            problem = (f"not given, and the media file name {_show(media.stem, 200)} cannot be used "
                       f"as one: {e.problem}; set recording_id in the sidecar")
            problems = [("recording_id", problem)] + e.problems[1:]
            raise SidecarError(problem, "recording_id", meta, problems) from None
        raise


def _audio_path(sc: Sidecar, meta: Path) -> Path | None:
    """The separate audio file, resolved; it must be a file inside the sidecar's folder."""
    if sc.audio_file is None:
        return None
    folder = meta.absolute().parent.resolve()
    candidate = (folder / sc.audio_file).resolve()
    try:
        candidate.relative_to(folder)
    except ValueError:
        raise SidecarError(f"{_show(sc.audio_file, 200)} resolves outside the sidecar's folder "
                           "(symbolic link?)", "audio_file", meta) from None
    if not candidate.exists():
        raise SidecarError(f"file not found: {sc.audio_file} (looked in {folder})", "audio_file", meta)
    if not candidate.is_file():
        raise SidecarError(f"{sc.audio_file} is not a file", "audio_file", meta)
    return candidate
