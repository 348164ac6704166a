"""`python -m console --host 127.0.0.1 --port 8090`."""

import argparse
import os

import uvicorn


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the operator console.")
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("CONSOLE_PORT", "8090")))
    args = parser.parse_args()
    # Live pages hold event streams open: do not wait for them on shutdown.
    uvicorn.run("console.app:create_app", factory=True, host=args.host, port=args.port,
                timeout_graceful_shutdown=2)  # fmt: skip


if __name__ == "__main__":
    main()
