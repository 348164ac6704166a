"""`python -m storefront --host 127.0.0.1 --port 8080` (defaults: HOST, WEB_PORT)."""

from dispute_backend.frontend_cli import serve_frontend
from storefront.settings import get_settings


def main() -> None:
    settings = get_settings()  # refuses development secrets outside development, at start
    serve_frontend(
        "storefront.app:create_app",
        description="Serve the marketplace page with the chat.",
        host=settings.host,
        port=settings.web_port,
    )


if __name__ == "__main__":
    main()
