"""uvicorn's entry (``console.serve:app``, a factory): each worker process builds the
application from the same settings (the config file in DUALREC_CONFIG, as `dualrec
serve --config` set it)."""
from __future__ import annotations

import os


def app():
    from console.app import create_app
    from verifier.config import load_settings

    return create_app(load_settings(), tls=bool(os.environ.get("DUALREC_CONSOLE_TLS")))
