"""Roles, what each may do, and which recordings each may see.

The matrix is the one the README prints (console section). Every route names the
permission it needs (console/app.py ``require``), and every query over recordings is
narrowed to the user's branches by :func:`in_scope` / :func:`scope_branches`, so a
hidden button is never the only guard.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:  # pragma: no cover
    from console.accounts import User

ROLES = ("viewer", "auditor", "legal", "admin")

# permission -> what it allows (for the README and the admin page)
PERMISSIONS = {
    "view": "dashboard, recordings list, spoken-text search, recording page, play media",
    "customer_data": "see the customer's ID number and name in clear",
    "review": "review recordings, the review queue",
    "samples": "draw and read audit samples",
    "reports": "statistics and the compliance report (CSV, Excel)",
    "hold": "place and release legal holds",
    "export": "download the evidence package (customer data in clear)",
    "users": "add, disable and reset accounts; list and revoke sessions",
    "audit_log": "read the audit log and its chain status",
    "integrity": "re-hash the vault and check the audit chain",
}

MATRIX: dict[str, frozenset[str]] = {
    "viewer": frozenset({"view"}),
    "auditor": frozenset({"view", "review", "samples", "reports"}),
    "legal": frozenset({"view", "customer_data", "hold", "export"}),
    "admin": frozenset({"view", "users", "audit_log", "integrity"}),
}


def can(user: "User | None", permission: str) -> bool:
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")
    return user is not None and permission in MATRIX.get(user.role, frozenset())


def in_scope(user: "User", branch_id: str | None) -> bool:
    """Whether the user may see a recording of this branch."""
    return user.all_branches or branch_id in user.branches


def scope_branches(user: "User", asked: Iterable[str] = ()) -> list[str] | None:
    """The branches a query may cover: None for every branch; otherwise the asked ones
    inside the user's scope (an empty list then matches nothing, on purpose)."""
    asked = [b for b in asked if b]
    if user.all_branches:
        return asked or None
    if not asked:
        return list(user.branches)
    return [b for b in asked if b in user.branches]


def matrix_rows() -> list[tuple[str, str, list[bool]]]:
    return [(p, text, [p in MATRIX[r] for r in ROLES]) for p, text in PERMISSIONS.items()]
