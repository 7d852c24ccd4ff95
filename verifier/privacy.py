"""Masking of personal data (customer ID numbers and names) for every user-visible output.

Only an evidence export may show these values in clear.
"""

from __future__ import annotations

__all__ = ["mask_id", "mask_name"]

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
