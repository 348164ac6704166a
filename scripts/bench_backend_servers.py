"""`make bench-backend`'s measurement, once per way of running the backend's workers.

    backend/.venv/bin/python scripts/bench_backend_servers.py [--databases sqlite,postgresql]

The bench (dispute_backend/bench.py) starts the service with `make run`'s command line,
`python -m dispute_backend serve` (the hand-written supervisor: a listening socket per
worker with SO_REUSEPORT). This runs it a second time with the command `make run-cluster`
uses for its backend node, uvicorn's own supervisor (`--workers`, one shared socket), so
docs/scaling.md can say which of the two each mode needs. Same workers (2), same data,
same clients.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from typing import Any

from dispute_backend import bench


def uvicorn_command(argv: list[str]) -> list[str]:
    """`python -m dispute_backend serve --host H --port P` -> the cluster's uvicorn command."""
    python, host, port = argv[0], argv[argv.index("--host") + 1], argv[argv.index("--port") + 1]
    return [
        python,
        "-m",
        "uvicorn",
        "dispute_backend.serve:worker_app",
        "--factory",
        "--host",
        host,
        "--port",
        port,
        "--workers",
        "2",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--timeout-keep-alive",
        "75",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--operations", default="health")
    args = parser.parse_args()
    options: dict[str, Any] = {
        "databases": args.databases.split(","),
        "per_level": args.requests,
        "operations": tuple(args.operations.split(",")),
        "levels": (16,),
    }
    print("## serve (make run)")
    status = bench.run(**options)
    started = subprocess.Popen

    def popen(argv: list[str], *rest: Any, **kwargs: Any) -> Any:
        if argv[1:4] == ["-m", "dispute_backend", "serve"]:
            argv = uvicorn_command(argv)
        return started(argv, *rest, **kwargs)

    bench.subprocess.Popen = popen  # type: ignore[assignment,misc]
    print("\n## uvicorn --workers 2 (make run-cluster)")
    return status or bench.run(**options)


if __name__ == "__main__":
    sys.exit(main())
