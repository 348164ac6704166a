"""`python -m storefront --host 127.0.0.1 --port 8080`."""

import argparse
import os

import uvicorn


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the marketplace page with the chat.")
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("WEB_PORT", "8080")))
    args = parser.parse_args()
    uvicorn.run("storefront.app:create_app", factory=True, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
