"""Runs the time-driven transitions inside the service: once at start (catch-up), then
every SCHEDULER_INTERVAL_SECONDS. `serve` starts exactly one, in its own process, whatever the
number of HTTP worker processes. Safe to run twice anyway (two `serve` on one database): each
transition re-checks its state."""

from __future__ import annotations

import logging
import os
import threading

from sqlalchemy.orm import Session, sessionmaker

from . import rules
from .clock import Clock
from .db import begin_write
from .services import transitions

log = logging.getLogger(__name__)


def run_once(
    factory: sessionmaker[Session], clock: Clock, rs: rules.RuleSettings
) -> transitions.Applied:
    with factory() as session:
        begin_write(session)
        applied = transitions.apply_due(session, now=clock.now(), rs=rs)
        session.commit()
    if applied.total:
        log.info("scheduler applied %s", applied)
    return applied


class Scheduler:
    def __init__(
        self,
        factory: sessionmaker[Session],
        clock: Clock,
        rs: rules.RuleSettings,
        interval: float,
    ) -> None:
        self._factory, self._clock, self._rules, self._interval = factory, clock, rs, interval
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
                run_once(self._factory, self._clock, self._rules)
            except Exception:
                log.exception("scheduler run failed; retrying next tick")
            self._stop.wait(self._interval)
