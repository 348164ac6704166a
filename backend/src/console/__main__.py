"""`python -m console --host 127.0.0.1 --port 8090` (defaults: HOST, CONSOLE_PORT)."""

from console.settings import get_settings
from dispute_backend.frontend_cli import serve_frontend


def main() -> None:
    settings = get_settings()
    serve_frontend(
        "console.app:create_app",
        description="Serve the operator console.",
        host=settings.host,
        port=settings.console_port,
        # Live pages hold event streams open: do not wait for them on shutdown.
        timeout_graceful_shutdown=2,
    )


if __name__ == "__main__":
    main()
