"""Masking of personal data (customer ID numbers and names) for every user-visible output.

Only an evidence export may show these values in clear.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["mask_id", "mask_name", "Secret", "personal_secrets", "find_secret", "mask_secrets"]

MASK = "*"


def mask_id(value: object) -> str | None:
    """Mask an identifier such as an ID card number.

    Long ids (12 characters or more) keep their first 4 and last 4 characters, length
    kept: ``110101199003071234`` → ``1101**********1234``. Shorter ids (5..11
    characters) keep only the last 2 (``A1234567`` → ``******67``); ids of 4 characters
    or fewer are masked completely. ``None`` → ``None``.
    """
    if value is None:
        return None
    s = str(value).strip()
    n = len(s)
    if n >= 12:
        return s[:4] + MASK * (n - 8) + s[-4:]
    if n >= 5:
        return MASK * (n - 2) + s[-2:]
    return MASK * n


def mask_name(value: object) -> str | None:
    """Mask a person's name, keeping only its first character: 张三丰 → 张**.

    A one-character name is masked completely. ``None`` → ``None``; an empty name stays
    empty.
    """
    if value is None:
        return None
    s = str(value).strip()
    if len(s) <= 1:
        return MASK * len(s)
    return s[0] + MASK * (len(s) - 1)


# --------------------------------------------------------------------------- inside other text

# Shorter values are not searched for in other text: they would match ordinary words and
# numbers by chance (an "ID" of 3 digits inside every year), and reveal no one anyway.
MIN_ID_MATCH = 4
MIN_NAME_MATCH = 2


@dataclass(frozen=True)
class Secret:
    """One piece of a customer's personal data, to find and mask inside other text.

    ``what``: ``"ID number"`` or ``"name"``, for messages. ``clear`` is left out of
    ``repr()`` so that logging a Secret does not log the value.
    """

    what: str
    clear: str = field(repr=False)
    masked: str


def personal_secrets(customer_id: object, customer_name: object) -> tuple[Secret, ...]:
    """The customer's ID number and name as :class:`Secret` s (those long enough to look for).

    Values that are not text are ignored, except an ID number given as an integer (a
    common mistake in a sidecar), whose digits are still the customer's.
    """
    out = []
    cid = _as_text(customer_id)
    if cid is not None and len(cid) >= MIN_ID_MATCH:
        out.append(Secret("ID number", cid, mask_id(cid)))
    name = customer_name.strip() if isinstance(customer_name, str) else None
    if name is not None and len(name) >= MIN_NAME_MATCH:
        out.append(Secret("name", name, mask_name(name)))
    return tuple(out)


def _as_text(value: object) -> str | None:
    if isinstance(value, str):
        return value.strip()
    # bool is an int, but True is no ID number; bounded so str() cannot hit Python's
    # int-to-string digit limit
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10 ** 30:
        return str(value)
    return None


def find_secret(text: str, secrets: tuple[Secret, ...]) -> Secret | None:
    """The first secret that ``text`` contains (case-insensitive: an ID number's check
    character is X or x), else None. Matches exactly what :func:`mask_secrets` masks."""
    return next((s for s in secrets if re.search(re.escape(s.clear), text, re.IGNORECASE)), None)


def mask_secrets(text: str, secrets: tuple[Secret, ...]) -> str:
    """``text`` with every occurrence of a secret replaced by its masked form."""
    for s in secrets:
        text = re.sub(re.escape(s.clear), lambda _m, s=s: s.masked, text, flags=re.IGNORECASE)
    return text
