"""python -m dispute_backend migrate | seed [--reset] | serve | scheduler | bench | bench-read |
outbox"""

from __future__ import annotations

import argparse
import logging
import sys

from .redaction import install as install_redaction
from .settings import LOG_FORMAT, get_settings


def _migrate() -> None:
    from .migrate import upgrade

    upgrade(get_settings().database_url)
    print("database is at the latest migration")


class Refused(Exception):
    """A command that must not run in this environment."""


def _seed(reset: bool) -> None:
    from .app import rule_settings
    from .clock import SystemClock
    from .db import begin_write, make_engine, make_session_factory
    from .seed import ensure_operator_passwords, has_data, seed, wipe
    from .settings import AppEnv

    settings = get_settings()
    if settings.app_env == AppEnv.production:
        # The demo data holds known passwords and seller keys: never in production.
        raise Refused("seed refused: APP_ENV is production (demo operators, passwords, keys)")
    factory = make_session_factory(make_engine(settings.database_url))
    with factory() as session:
        begin_write(session)
        if has_data(session) and not reset:
            if ensure_operator_passwords(session):
                session.commit()
                print("demo operators: console passwords set")
            print("demo data already present (use seed --reset to start over)")
            return
        if reset:
            wipe(session)
        seed(session, now=SystemClock().now(), rs=rule_settings(settings))
        session.commit()
    print("demo data seeded: buyers alice, bruno, carla, diego, erin")


def _outbox(to: str | None, last: int) -> None:
    from .services.accounts import read_outbox

    directory = get_settings().outbox_dir
    messages = read_outbox(directory, to=to, last=last)
    if not messages:
        print(f"no messages in {directory}")
    for mail in messages:
        print(f"--- {mail.get('sent_at', '')}  to {mail.get('to', '')}: {mail.get('subject', '')}")
        print(mail.get("body", ""))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dispute_backend")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply database migrations (safe to repeat)")
    seed_p = sub.add_parser("seed", help="seed demo data if the database has no buyers")
    seed_p.add_argument("--reset", action="store_true", help="wipe everything and reseed")
    serve_p = sub.add_parser("serve", help="run the HTTP service and its scheduler")
    serve_p.add_argument("--host", default="127.0.0.1")
    serve_p.add_argument("--port", type=int, default=8000)
    serve_p.add_argument("--no-access-log", action="store_true", help="do not log each request")
    serve_p.add_argument(
        "--workers", type=int, help="HTTP worker processes (default: HTTP_WORKERS, 2)"
    )
    sub.add_parser("scheduler", help="run the scheduler alone (HTTP workers started otherwise)")
    bench_p = sub.add_parser("bench", help="latency and throughput on SQLite and PostgreSQL")
    bench_p.add_argument("--databases", default="sqlite,postgresql")
    bench_p.add_argument("--requests", type=int, default=2000, help="per operation and level")
    bench_p.add_argument("--operations", default="health,eligibility,open,get")
    bench_p.add_argument("--clients", default="1,16", help="concurrency levels")
    read_p = sub.add_parser("bench-read", help="the get route's one-statement read vs the ORM")
    read_p.add_argument("--rounds", type=int, default=2000)
    outbox_p = sub.add_parser("outbox", help="print the latest mails of the development outbox")
    outbox_p.add_argument("--to", help="only the mails to this address")
    outbox_p.add_argument("--last", type=int, default=5, help="how many (0: all)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)

    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    install_redaction()
    if args.command == "migrate":
        _migrate()
    elif args.command == "seed":
        try:
            _seed(args.reset)
        except Refused as refused:
            print(f"error: {refused}", file=sys.stderr)
            return 2
    elif args.command == "serve":
        from .serve import serve

        serve(
            host=args.host, port=args.port, access_log=not args.no_access_log, workers=args.workers
        )
    elif args.command == "scheduler":
        from .scheduler import run_alone

        run_alone()
    elif args.command == "outbox":
        _outbox(args.to, args.last)
    elif args.command == "bench-read":
        from .bench_read import run as run_read

        run_read(args.rounds)
    elif args.command == "bench":
        from .bench import run

        return run(
            databases=args.databases.split(","),
            per_level=args.requests,
            operations=tuple(args.operations.split(",")),
            levels=tuple(int(n) for n in args.clients.split(",")),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
