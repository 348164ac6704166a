"""Several schedulers at once, as `make run-cluster` runs them (one per backend node), on
committed data: every due item is applied exactly once, and on PostgreSQL a scheduler never
waits for an item another one holds (SELECT ... FOR UPDATE SKIP LOCKED)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

import factories as f
from dispute_backend.clock import FrozenClock
from dispute_backend.db import make_engine, make_session_factory
from dispute_backend.enums import DisputeState, PaymentStatus
from dispute_backend.models import Dispute, Event, Order
from dispute_backend.rules import RuleSettings
from dispute_backend.scheduler import Backoff, run_once
from dispute_backend.services import transitions

RS = RuleSettings()
BUYER, SHOP = "cluster-buyer", "cluster-shop"
RUN = f.NOW + 16 * f.DAY  # negotiation and protection periods are over by then
DISPUTES, RELEASES = 12, 12


@dataclass
class Due:
    disputes: list[int]
    orders: list[str]


@pytest.fixture
def due(engine: Engine) -> Iterator[Due]:
    with Session(engine) as s:
        f.seller(s, SHOP, key="cluster-key")
        buyer = f.buyer(s, BUYER)
        kw = {"buyer_id": BUYER, "seller_id": SHOP}
        opened = [f.dispute(s, buyer, f.order(s, **kw)).id for _ in range(DISPUTES)]
        orders = [f.order(s, **kw).id for _ in range(RELEASES)]
        s.commit()
    with f.purged_after(engine, buyer_id=BUYER, seller_id=SHOP):
        yield Due(opened, orders)


def _scheduler(database_url: str) -> tuple[Engine, sessionmaker[Session]]:
    """A scheduler's own engine and session factory, as each `scheduler` process has."""
    engine = make_engine(database_url, pool_size=1)
    return engine, make_session_factory(engine)


def _run_timed(database_url: str, out: dict[str, object]) -> None:
    own, factory = _scheduler(database_url)
    began = time.monotonic()
    out["applied"] = run_once(factory, FrozenClock(RUN), RS, Backoff())
    out["took"] = time.monotonic() - began
    own.dispose()


def test_two_schedulers_at_once_apply_every_due_item_exactly_once(
    database_url: str, engine: Engine, due: Due
) -> None:
    start = threading.Barrier(2, timeout=20)
    results: list[transitions.Applied] = []
    errors: list[BaseException] = []

    def scheduler() -> None:
        own, factory = _scheduler(database_url)
        try:
            start.wait()
            results.append(run_once(factory, FrozenClock(RUN), RS, Backoff()))
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)
        finally:
            own.dispose()

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors and len(results) == 2
    assert sum(r.mediations for r in results) == DISPUTES
    assert sum(r.releases for r in results) == RELEASES
    with Session(engine) as s:
        states = s.scalars(select(Dispute.state).where(Dispute.id.in_(due.disputes))).all()
        assert set(states) == {DisputeState.mediation}
        payments = s.scalars(select(Order.payment_status).where(Order.id.in_(due.orders))).all()
        assert set(payments) == {PaymentStatus.released}
        per_item = s.execute(
            select(Event.kind, func.count())
            .where(Event.buyer_id == BUYER)
            .where(Event.kind.in_(["payment.released", "dispute.mediation_started"]))
            .group_by(Event.kind)
            .order_by(Event.kind)
        ).all()
        # One event per item, no more: nothing was applied twice.
        assert [tuple(row) for row in per_item] == [
            ("dispute.mediation_started", DISPUTES),
            ("payment.released", RELEASES),
        ]


def test_an_item_held_by_another_scheduler_is_skipped_not_waited_for(
    database_url: str, engine: Engine, due: Due
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite writers queue on one write lock")
    held_dispute, held_order = due.disputes[0], due.orders[0]
    with Session(engine) as holder:  # another scheduler, in the middle of these two items
        holder.execute(text("SELECT 1 FROM disputes WHERE id = :d FOR UPDATE"), {"d": held_dispute})
        holder.execute(text("SELECT 1 FROM orders WHERE id = :o FOR UPDATE"), {"o": held_order})
        out: dict[str, object] = {}
        runner = threading.Thread(target=_run_timed, args=(database_url, out))
        runner.start()
        runner.join(10)  # a scheduler that waits for the held rows is still in there
        holder.rollback()
        runner.join(60)
    took, applied = out["took"], out["applied"]
    assert isinstance(took, float) and isinstance(applied, transitions.Applied)
    assert took < 5, f"waited {took:.1f} s for rows another scheduler held"
    assert (applied.mediations, applied.releases) == (DISPUTES - 1, RELEASES - 1)
    with Session(engine) as s:
        assert s.get(Dispute, held_dispute).state == DisputeState.negotiation  # type: ignore[union-attr]
        assert s.get(Order, held_order).payment_status == PaymentStatus.held  # type: ignore[union-attr]
    own, factory = _scheduler(database_url)
    later = run_once(factory, FrozenClock(RUN), RS, Backoff())
    own.dispose()
    assert (later.mediations, later.releases) == (1, 1)  # the next run takes what was left
