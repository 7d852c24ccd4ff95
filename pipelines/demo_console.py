"""`make console`: demo accounts on the demo store, each with a generated password
printed once (run again, it generates new ones; there is never a default password).
The Makefile then starts `dualrec serve` on 127.0.0.1:8000."""
from __future__ import annotations

import sys

DEMO_ACCOUNTS = (("demo-admin", "admin", []), ("demo-auditor", "auditor", []),
                 ("demo-legal", "legal", []), ("demo-viewer", "viewer", ["BR001"]))


def main() -> int:
    from console.accounts import add_user, list_users, reset_password
    from storage.db import StoreError, open_store
    from verifier.config import load_settings

    settings = load_settings()
    try:
        store = open_store(settings)
    except StoreError as exc:
        print(f"dualrec: error: {exc}", file=sys.stderr)
        return 2
    with store:
        from sqlalchemy import func, select

        from storage.models import Recording

        with store.session() as s:
            n = s.scalar(select(func.count()).select_from(Recording))
        if not n:
            print("the store is empty: run `make demo` first (it verifies and stores the "
                  "demo recordings)", file=sys.stderr)
        existing = {u["name"] for u in list_users(store)}
        print("Demo accounts of the console (passwords shown only now):")
        for name, role, branches in DEMO_ACCOUNTS:
            if name in existing:
                _, password = reset_password(store, name, actor="make console")
            else:
                _, password = add_user(store, name, role, branches, actor="make console")
            scope = ",".join(branches) or "all branches"
            print(f"  {name:<13} {role:<8} {scope:<13} password: {password}")
    print(f"\n{n} recordings in {settings.data_dir}. Open http://127.0.0.1:8000/ and log in.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
