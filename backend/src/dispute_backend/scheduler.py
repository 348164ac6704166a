"""Runs the time-driven transitions inside the service: once at start (catch-up), then
every SCHEDULER_INTERVAL_SECONDS. `serve` starts exactly one, in its own process, whatever the
number of HTTP worker processes. Safe to run twice anyway (two `serve` on one database): each
transition re-checks its state. `python -m dispute_backend scheduler` runs one alone, beside
HTTP workers that run none (`make run-cluster` runs two; on PostgreSQL they share the due
items, each taken once with SKIP LOCKED: services/transitions.py).

Each due item is its own transaction: one that fails (bad data, a bug) is logged with its id,
rolled back and retried on a later run, after a pause that doubles with each failure, while
every other item is applied."""

from __future__ import annotations

import logging
import os
import signal
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from . import rules
from .clock import Clock
from .db import begin_write, mark_read
from .errors import DatabaseBusy
from .services import transitions
from .services.transitions import Due

log = logging.getLogger(__name__)

RETRY_FIRST = timedelta(seconds=30)  # the default interval: the next run
RETRY_MAX = timedelta(hours=1)  # a broken item costs a log line an hour, at most


@dataclass
class _Failures:
    count: int
    retry_at: datetime


class Backoff:
    """When each failed item may be tried again: RETRY_FIRST after its first failure, doubling
    up to RETRY_MAX. Kept in memory: a restart tries everything at once, which is harmless."""

    def __init__(self, first: timedelta = RETRY_FIRST, most: timedelta = RETRY_MAX) -> None:
        self._first, self._most = first, most
        self._failed: dict[Due, _Failures] = {}

    def ready(self, item: Due, now: datetime) -> bool:
        failed = self._failed.get(item)
        return failed is None or now >= failed.retry_at

    def failed(self, item: Due, now: datetime) -> _Failures:
        count = self._failed[item].count + 1 if item in self._failed else 1
        pause = min(self._first * 2 ** min(count - 1, 20), self._most)
        self._failed[item] = _Failures(count, now + pause)
        return self._failed[item]

    def succeeded(self, item: Due) -> None:
        self._failed.pop(item, None)

    def forget_all_but(self, still_due: set[Due]) -> None:
        """Drop items that are no longer due (fixed by hand, or moved on)."""
        for item in set(self._failed) - still_due:
            del self._failed[item]


def run_once(
    factory: sessionmaker[Session],
    clock: Clock,
    rs: rules.RuleSettings,
    backoff: Backoff | None = None,
) -> transitions.Applied:
    backoff = backoff or Backoff()
    now = clock.now()
    applied = transitions.Applied()
    seen: set[Due] = set()
    # The kinds run in order, each listed after the one before was applied (see apply_due).
    for kind in transitions.Kind:
        with factory() as session:
            mark_read(session)
            items = transitions.due(session, kind, now=now, rs=rs)
        seen.update(items)
        for item in items:
            if backoff.ready(item, now) and _apply_one(factory, item, now, rs, backoff):
                applied.count(kind)
    backoff.forget_all_but(seen)
    if applied.total:
        log.info("scheduler applied %s", applied)
    return applied


def _apply_one(
    factory: sessionmaker[Session],
    item: Due,
    now: datetime,
    rs: rules.RuleSettings,
    backoff: Backoff,
) -> bool:
    """One item in its own transaction; True if it was applied. Raises only DatabaseBusy."""
    try:
        with factory() as session:
            begin_write(session)
            done = transitions.apply(session, item, now=now, rs=rs)
            session.commit()
    except DatabaseBusy:
        raise  # not this item's fault: the run stops, the next one tries again
    except StaleDataError:
        log.info("%s changed meanwhile; next run will see it", item.label)
        return False
    except Exception as exc:
        failed = backoff.failed(item, now)
        log.error(
            "scheduler: %s failed (%s), attempt %d; next try after %s",
            item.label,
            transitions.failure(exc),
            failed.count,
            failed.retry_at.isoformat(timespec="seconds"),
        )
        return False
    backoff.succeeded(item)
    return done


class Scheduler:
    def __init__(
        self,
        factory: sessionmaker[Session],
        clock: Clock,
        rs: rules.RuleSettings,
        interval: float,
    ) -> None:
        self._factory, self._clock, self._rules, self._interval = factory, clock, rs, interval
        # A failed item is tried again on the next run, then after 2, 4, 8... runs.
        self._backoff = Backoff(first=timedelta(seconds=interval))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="dispute-scheduler", daemon=True)

    def start(self) -> None:
        log.info("scheduler started in process %d, every %g s", os.getpid(), self._interval)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                run_once(self._factory, self._clock, self._rules, self._backoff)
            except DatabaseBusy:
                log.warning("scheduler: the database stayed busy; retrying next tick")
            except Exception as exc:
                log.error("scheduler run failed (%s); retrying next tick", transitions.failure(exc))
            self._stop.wait(self._interval)


def run_alone() -> None:
    """The scheduler in a process of its own, until SIGINT or SIGTERM."""
    from .app import rule_settings
    from .clock import SystemClock
    from .db import make_engine, make_session_factory
    from .settings import get_settings

    settings = get_settings()
    factory = make_session_factory(make_engine(settings.database_url, pool_size=1))
    interval = settings.scheduler_interval_seconds
    scheduler = Scheduler(factory, SystemClock(), rule_settings(settings), interval)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    scheduler.start()
    while not stop.wait(1.0):
        pass
    scheduler.stop()
    log.info("scheduler stopped")
