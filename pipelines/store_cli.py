"""Commands of the audit store; registered on the main `dualrec` app."""
from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the store's commands to `app`."""
