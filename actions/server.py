"""Start the action server with every request authenticated.

rasa-sdk 3.6 has no authentication of its own: anyone who can reach port
5055 could run actions (and act on buyers' disputes). This wraps its Sanic
app with a check of `Authorization: Bearer $ACTION_SERVER_TOKEN`, which Rasa
sends (endpoints.yml). `/health` stays open for monitoring.
"""

from __future__ import annotations

import argparse
import hmac
import logging

from rasa_sdk.endpoint import create_app
from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse, json

from actions.settings import get_settings
from extensions import redaction

logger = logging.getLogger(__name__)
OPEN_PATHS = frozenset({"/health"})


def build_app(token: str) -> Sanic:
    if not token:
        raise SystemExit("ACTION_SERVER_TOKEN is not set; run `make run` to generate .env")
    app = create_app("actions", cors_origins=[])
    expected = f"Bearer {token}".encode()

    @app.on_request
    async def authenticate(request: Request) -> HTTPResponse | None:
        if request.path in OPEN_PATHS:
            return None
        given = (request.headers.get("Authorization") or "").encode()
        if hmac.compare_digest(given, expected):
            return None
        logger.warning("refused %s %s: bad or missing token", request.method, request.path)
        return json({"error": "unauthorized"}, status=401)

    return app


def main() -> None:
    settings = get_settings()
    parser = argparse.ArgumentParser(description="Run the dispute assistant's action server.")
    parser.add_argument("--host", default=settings.host)
    parser.add_argument("--port", type=int, default=settings.action_port)
    args = parser.parse_args()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    redaction.install_record_factory()  # no token or secret in any line (docs/security.md)
    app = build_app(settings.action_server_token)
    app.run(host=args.host, port=args.port, workers=1, access_log=False)


if __name__ == "__main__":
    main()
