"""`python -m console` and `python -m storefront`: the two apps in front of the backend start
alike, on a host and a port that default to their settings, with their logs scrubbed."""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn

from . import redaction


def serve_frontend(app: str, *, description: str, host: str, port: int, **options: Any) -> None:
    """Serve the app factory `app` ("package.app:create_app") on --host and --port, which
    default to `host` and `port`; `options` go to uvicorn as they are."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default=host)
    parser.add_argument("--port", type=int, default=port)
    args = parser.parse_args()
    redaction.install()  # no token or secret in any log line (docs/security.md)
    uvicorn.run(app, factory=True, host=args.host, port=args.port, **options)
