"""`python -m dispute_backend serve`: the HTTP workers and the scheduler, as `make run` runs them.

The serving process runs the scheduler, once, and supervises HTTP_WORKERS uvicorn processes
(uvloop and httptools). Each worker listens on a socket of its own, bound to the same port
with SO_REUSEPORT, so the kernel spreads new connections over the workers. With one shared
listening socket, whichever worker woke first accepted a whole burst: 16 keep-alive clients all
landed on one worker while the other core idled. A worker that dies is replaced; one that
fails before it ever served (a broken configuration) stops the service instead of looping;
and the workers end when the serving process does, even if it is killed outright.

This hand-written supervisor is `make run`'s (SQLite, one machine). `make run-cluster` runs the
workers on uvicorn's own (`uvicorn dispute_backend.serve:worker_app --factory --workers N`),
behind HAProxy, with the scheduler in processes of its own (`python -m dispute_backend
scheduler`); docs/scaling.md has the measurements behind that split.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.synchronize import Event
from typing import TYPE_CHECKING, Any

import uvicorn

from .redaction import install as install_redaction
from .settings import LOG_FORMAT, get_settings

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger(__name__)

APP = "dispute_backend.app:create_app"
STARTUP_FAILURE = 3  # uvicorn's exit status for a server that could not start


def listener(host: str, port: int) -> socket.socket:
    """A TCP socket bound (not yet listening) to host:port, shareable with SO_REUSEPORT."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def uvicorn_options(*, host: str, port: int, access_log: bool) -> dict[str, Any]:
    # Named rather than left to "auto", so that a missing one fails instead of falling back.
    return {
        "host": host,
        "port": port,
        "loop": "uvloop",
        "http": "httptools",
        "log_level": "info",
        "access_log": access_log,
    }


class _Server(uvicorn.Server):
    """uvicorn's server, telling the supervisor once it serves."""

    def __init__(self, config: uvicorn.Config, ready: Event) -> None:
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self._ready.set()


def _follow_parent() -> None:
    """End this worker, gracefully, if the serving process is gone (even killed outright)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="follow-parent", daemon=True).start()


def _worker(options: dict[str, Any], ready: Event) -> None:  # runs in a spawned process
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)  # the app's own loggers
    install_redaction()
    _follow_parent()
    config = uvicorn.Config(APP, factory=True, **options)
    sock = listener(options["host"], options["port"])
    _Server(config, ready).run(sockets=[sock])


def worker_app() -> FastAPI:
    """The app as another server's worker processes load it (an app factory): the logging
    and log redaction that `serve` gives its own workers, then the app, without scheduler.

    Its pooled connections are checked before use (one round trip, ~0.1 ms here): in the
    cluster the database is a server that restarts, and a connection it dropped is then
    replaced instead of failing a request (make_engine's embedded default does without)."""
    from .app import create_app
    from .db import make_engine, make_session_factory

    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)  # the app's own loggers
    install_redaction()
    settings = get_settings()
    engine = make_engine(settings.database_url, pool_pre_ping=True)
    return create_app(settings, session_factory=make_session_factory(engine))


def serve(*, host: str, port: int, access_log: bool, workers: int | None = None) -> None:
    from .app import create_app, rule_settings
    from .clock import SystemClock
    from .db import make_engine, make_session_factory
    from .scheduler import Scheduler

    settings = get_settings()
    workers = workers or settings.http_workers
    scheduler = None
    if settings.scheduler_enabled:
        # Here, in the serving process, so it runs once however many HTTP workers there are:
        # they never start one (create_app has no scheduler).
        factory = make_session_factory(make_engine(settings.database_url, pool_size=1))
        interval = settings.scheduler_interval_seconds
        scheduler = Scheduler(factory, SystemClock(), rule_settings(settings), interval)
        scheduler.start()
    options = uvicorn_options(host=host, port=port, access_log=access_log)
    try:
        if workers == 1:
            uvicorn.run(create_app(), **options)
        else:
            status = supervise(options, workers)
            if status:
                sys.exit(status)
    finally:
        if scheduler is not None:
            scheduler.stop()


def supervise(options: dict[str, Any], workers: int) -> int:
    """Run `workers` worker processes until SIGINT or SIGTERM; the exit status."""
    try:  # taken here, so that a busy port fails now; this socket never listens
        reserved = listener(options["host"], options["port"])
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", options["host"], options["port"], exc)
        return STARTUP_FAILURE
    options = {**options, "port": reserved.getsockname()[1]}  # the real one if 0 was asked
    spawn = multiprocessing.get_context("spawn")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    def start() -> Worker:
        ready = spawn.Event()
        process = spawn.Process(target=_worker, args=(options, ready), daemon=False)
        process.start()
        return process, ready

    log.info(
        "Uvicorn running on http://%s:%d with %d workers (Press CTRL+C to quit)",
        options["host"],
        options["port"],
        workers,
    )
    status = 0
    running = [start() for _ in range(workers)]
    while not stop.wait(0.5):
        if not _replace_dead_workers(running, start):
            status = STARTUP_FAILURE
            stop.set()
    _stop_workers(running)
    reserved.close()
    # Free the workers' ready events (semaphores, unlinked by their finalisers) before
    # the tracker stops: it unlinks whatever is still registered, and those finalisers
    # would then fail at exit with a traceback in the log. The loops above run in
    # helpers, so that this list held the last references.
    running.clear()
    gc.collect()
    _stop_resource_tracker()
    log.info("all workers stopped")
    return status


Worker = tuple[multiprocessing.process.BaseProcess, Event]


def _replace_dead_workers(running: list[Worker], start: Callable[[], Worker]) -> bool:
    """Start a new worker for each that died; False if one never started at all."""
    for i, (process, ready) in enumerate(running):
        if process.is_alive():
            continue
        if not ready.is_set():
            log.error("worker %s failed to start (exit %s)", process.pid, process.exitcode)
            return False
        log.warning("worker %s died (exit %s); starting another", process.pid, process.exitcode)
        running[i] = start()
    return True


def _stop_workers(running: list[Worker]) -> None:
    for process, _ in running:
        if process.is_alive():
            process.terminate()  # SIGTERM: uvicorn finishes the requests in flight
    for process, _ in running:
        process.join(30)
        if process.is_alive():
            process.kill()
            process.join()


def _stop_resource_tracker() -> None:
    """Stop and reap the helper process multiprocessing starts beside spawned workers, so that
    serve leaves nothing behind when it exits (it would otherwise end a moment later, and
    linger until init reaps it). Python 3.11 has no public call for this."""
    from multiprocessing import resource_tracker

    stop = getattr(resource_tracker._resource_tracker, "_stop", None)
    if stop is not None:
        stop()
