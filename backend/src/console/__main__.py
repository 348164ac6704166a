"""`python -m console --host 127.0.0.1 --port 8090` (defaults: HOST, CONSOLE_PORT)."""

import argparse

import uvicorn

from console.settings import get_settings
from dispute_backend import redaction


def main() -> None:
    settings = get_settings()
    parser = argparse.ArgumentParser(description="Serve the operator console.")
    parser.add_argument("--host", default=settings.host)
    parser.add_argument("--port", type=int, default=settings.console_port)
    args = parser.parse_args()
    # Live pages hold event streams open: do not wait for them on shutdown.
    redaction.install()  # no token or secret in any log line (docs/security.md)
    uvicorn.run(
        "console.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        timeout_graceful_shutdown=2,
    )


if __name__ == "__main__":
    main()
