"""`python -m storefront --host 127.0.0.1 --port 8080` (defaults: HOST, WEB_PORT)."""

import argparse

import uvicorn

from dispute_backend import redaction
from storefront.settings import get_settings


def main() -> None:
    settings = get_settings()  # refuses development secrets outside development, at start
    parser = argparse.ArgumentParser(description="Serve the marketplace page with the chat.")
    parser.add_argument("--host", default=settings.host)
    parser.add_argument("--port", type=int, default=settings.web_port)
    args = parser.parse_args()
    redaction.install()  # no token or secret in any log line (docs/security.md)
    uvicorn.run("storefront.app:create_app", factory=True, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
