"""The web console's commands: `dualrec serve` and `dualrec users ...`.

A new or reset password is generated and printed once, on stdout; only its argon2
hash is stored. There is never a default password.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from pipelines.store_cli import _echo_json, _fail, _store


def register(app: typer.Typer) -> None:
    users_app = typer.Typer(no_args_is_help=True, help="Console accounts.")
    app.add_typer(users_app, name="users")

    @users_app.command("add")
    def users_add(ctx: typer.Context, name: str = typer.Argument(...),
                  role: str = typer.Option(..., "--role",
                                           help="viewer, auditor, legal or admin."),
                  branch: Optional[List[str]] = typer.Option(
                      None, "--branch", help="A branch the account may see (repeatable; "
                      "none: all branches; a viewer needs at least one)."),
                  as_json: bool = typer.Option(False, "--json")) -> None:
        """Create an account; its generated password is printed once."""
        from console.accounts import add_user

        with _store(ctx) as store:
            user, password = add_user(store, name, role, branch or [])
        _print_password(user, password, as_json, "added")

    @users_app.command("list")
    def users_list(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
        """Accounts with role, branches and state."""
        from console.accounts import list_users

        with _store(ctx) as store:
            users = list_users(store)
        if as_json:
            _echo_json({"users": users})
            return
        if not users:
            typer.echo("no accounts (dualrec users add NAME --role admin)")
        for u in users:
            state = f"disabled {u['disabled_at']}" if u["disabled_at"] else "active"
            typer.echo(f"{u['name']:<20} {u['role']:<8} "
                       f"{','.join(u['branches']) or 'all branches':<20} {state}")

    @users_app.command("disable")
    def users_disable(ctx: typer.Context, name: str = typer.Argument(...),
                      as_json: bool = typer.Option(False, "--json")) -> None:
        """Disable an account and end its sessions."""
        from console.accounts import disable_user

        with _store(ctx) as store:
            user = disable_user(store, name)
        if as_json:
            _echo_json(user)
        else:
            typer.echo(f"{user['name']}: disabled; its sessions are ended")

    @users_app.command("reset-password")
    def users_reset(ctx: typer.Context, name: str = typer.Argument(...),
                    as_json: bool = typer.Option(False, "--json")) -> None:
        """Generate a new password (printed once) and end the account's sessions."""
        from console.accounts import reset_password

        with _store(ctx) as store:
            user, password = reset_password(store, name)
        _print_password(user, password, as_json, "new password")

    @app.command()
    def serve(ctx: typer.Context,
              host: str = typer.Option("127.0.0.1", "--host",
                                       help="Address to listen on (default: this machine only)."),
              port: int = typer.Option(8000, "--port", min=1, max=65535),
              workers: int = typer.Option(1, "--workers", min=1, max=64,
                                          help="Processes (use PostgreSQL for more than one)."),
              ssl_certfile: Optional[Path] = typer.Option(None, "--ssl-certfile"),
              ssl_keyfile: Optional[Path] = typer.Option(None, "--ssl-keyfile"),
              proxy: Optional[str] = typer.Option(
                  None, "--forwarded-allow-ips",
                  help="Trust X-Forwarded-For from this proxy address (nginx)."),
              ) -> None:
        """The web console over the store: every page and stream behind a login."""
        import os

        import uvicorn

        from console.accounts import count_admins

        if (ssl_certfile is None) != (ssl_keyfile is None):
            raise _fail("give both --ssl-certfile and --ssl-keyfile, or neither", 2)
        for f in (ssl_certfile, ssl_keyfile):
            if f is not None and not f.is_file():
                raise _fail(f"{f}: no such file", 2)
        with _store(ctx) as store:  # migrate once, before any worker starts
            admins = count_admins(store)
        if admins == 0:
            typer.echo("dualrec: warning: no administrator account yet: "
                       "dualrec users add NAME --role admin", err=True)
        if workers > 1 and not (ctx.obj.db_url or "").startswith("postgresql"):
            typer.echo("dualrec: warning: several workers on SQLite serialise every write; "
                       "use PostgreSQL (db_url) for --workers > 1", err=True)
        tls = ssl_certfile is not None
        config = ctx.find_root().params.get("config")
        if config:  # the workers load the same settings
            os.environ["DUALREC_CONFIG"] = str(Path(config).resolve())
        os.environ["DUALREC_CONSOLE_TLS"] = "1" if tls else ""
        scheme = "https" if tls else "http"
        typer.echo(f"dualrec console on {scheme}://{host}:{port}/ (Ctrl-C stops it)", err=True)
        uvicorn.run("console.serve:app", factory=True, host=host, port=port, workers=workers,
                    ssl_certfile=str(ssl_certfile) if tls else None,
                    ssl_keyfile=str(ssl_keyfile) if tls else None,
                    proxy_headers=proxy is not None, forwarded_allow_ips=proxy,
                    server_header=False, log_level="info")


def _print_password(user: dict, password: str, as_json: bool, what: str) -> None:
    if as_json:
        _echo_json({**user, "password": password})
        return
    branches = ",".join(user["branches"]) or "all branches"
    typer.echo(f"{user['name']} ({user['role']}, {branches}): {what}")
    typer.echo(f"password (shown only now): {password}")
