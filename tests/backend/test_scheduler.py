"""The scheduler against committed data: one broken item (a row the ORM cannot load) is logged
by id, without personal data, and retried later with a growing pause, while every other due
item is applied."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

import factories as f
from dispute_backend.clock import FrozenClock
from dispute_backend.enums import (
    DisputeReason,
    DisputeState,
    PaymentStatus,
    ShippingStatus,
)
from dispute_backend.models import Buyer, Dispute, Order, public_dispute_id
from dispute_backend.rules import RuleSettings
from dispute_backend.scheduler import Backoff, run_once
from dispute_backend.services import transitions

RS = RuleSettings()
BUYER, SHOP = "sched-buyer", "sched-shop"
RUN = f.NOW + 16 * f.DAY  # negotiation (5 d), carrier answer (10 d) and protection all over
SECOND = timedelta(seconds=1)


@dataclass
class Scene:
    mediations: list[int]  # disputes due for mediation; the first is broken
    not_received: int  # due for mediation, then for its refund in the same run
    releases: list[str]  # orders due for release; the first is broken


def _open(s: Session, order: Order, reason: DisputeReason) -> int:
    buyer = s.get(Buyer, BUYER)
    assert buyer is not None
    d = f.dispute(
        s,
        buyer,
        order,
        reason=reason,
        description="My name is Sched Buyer, call me on +34 600 000 000",
    )
    return d.id


def _break(s: Session, scene: Scene) -> None:
    # Values outside their enums: loading these rows raises, as corrupt data would.
    s.execute(update(Dispute).where(Dispute.id == scene.mediations[0]).values(outcome="bogus"))
    s.execute(update(Order).where(Order.id == scene.releases[0]).values(shipping_status="bogus"))


def _mend(s: Session, scene: Scene) -> None:
    s.execute(update(Dispute).where(Dispute.id == scene.mediations[0]).values(outcome=None))
    s.execute(
        update(Order).where(Order.id == scene.releases[0]).values(shipping_status="delivered")
    )


@pytest.fixture
def scene(engine: Engine) -> Iterator[Scene]:
    with Session(engine) as s:
        f.seller(s, SHOP, key="sched-key")
        f.buyer(s, BUYER)
        kw = {"buyer_id": BUYER, "seller_id": SHOP}
        mediations = [_open(s, f.order(s, **kw), DisputeReason.damaged) for _ in range(3)]
        lost = f.order(s, **kw, receipt_at=None, status=ShippingStatus.in_transit)
        not_received = _open(s, lost, DisputeReason.not_received)
        releases = [f.order(s, **kw).id for _ in range(3)]
        scene = Scene(mediations, not_received, releases)
        _break(s, scene)
        s.commit()
    try:
        yield scene
    finally:
        with Session(engine) as s:
            _mend(s, scene)
            f.purge(s, buyer_id=BUYER, seller_id=SHOP)


def _states(engine: Engine, scene: Scene) -> tuple[list[str], str, list[str]]:
    """Read by column, not by entity: the broken rows cannot be loaded as objects."""
    with Session(engine) as s:
        states = dict(s.execute(select(Dispute.id, Dispute.state)).tuples().all())
        payments = dict(s.execute(select(Order.id, Order.payment_status)).tuples().all())
    return (
        [states[pk] for pk in scene.mediations],
        states[scene.not_received],
        [payments[oid] for oid in scene.releases],
    )


def _failures(caplog: pytest.LogCaptureFixture) -> list[str]:
    lines = [r.getMessage() for r in caplog.records if r.name == "dispute_backend.scheduler"]
    caplog.clear()
    return [line for line in lines if "failed" in line]


def test_a_broken_item_is_skipped_and_every_other_due_item_applied(
    engine: Engine, scene: Scene, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dispute_backend")
    factory = sessionmaker(engine)
    applied = run_once(factory, FrozenClock(RUN), RS, Backoff())

    assert (applied.mediations, applied.not_received_refunds, applied.releases) == (3, 1, 2)
    mediations, not_received, releases = _states(engine, scene)
    assert mediations == [DisputeState.negotiation, DisputeState.mediation, DisputeState.mediation]
    assert not_received == DisputeState.ended  # escalated, then refunded, in the same run
    assert releases == [PaymentStatus.held, PaymentStatus.released, PaymentStatus.released]
    failures = _failures(caplog)
    assert len(failures) == 2, failures
    assert f"dispute {public_dispute_id(scene.mediations[0])} failed (LookupError" in failures[0]
    assert f"order {scene.releases[0]} failed (LookupError" in failures[1]
    for line in failures:  # ids only: no buyer, no description, no row values
        assert BUYER not in line and "600 000" not in line and "bogus" not in line, line


def test_a_broken_item_is_retried_with_a_growing_pause_then_applied_once_mended(
    engine: Engine, scene: Scene, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dispute_backend")
    factory = sessionmaker(engine)
    backoff = Backoff(first=timedelta(seconds=30))

    def run(at: timedelta) -> list[str]:
        run_once(factory, FrozenClock(RUN + at), RS, backoff)
        return _failures(caplog)

    assert len(run(0 * SECOND)) == 2  # attempt 1; next after 30 s
    assert run(29 * SECOND) == []  # pausing: not tried, not logged
    second = run(30 * SECOND)  # attempt 2; next after 60 s more
    assert len(second) == 2 and all("attempt 2" in line for line in second), second
    assert run(89 * SECOND) == []
    assert len(run(90 * SECOND)) == 2  # attempt 3; next after 120 s more
    with Session(engine) as s:
        _mend(s, scene)
        s.commit()
    assert run(209 * SECOND) == []  # still pausing, even mended
    applied = run_once(factory, FrozenClock(RUN + 210 * SECOND), RS, backoff)
    assert (applied.mediations, applied.releases) == (1, 1)
    assert _failures(caplog) == []
    mediations, _, releases = _states(engine, scene)
    assert mediations == [DisputeState.mediation] * 3
    assert releases == [PaymentStatus.released] * 3


def test_a_failure_pause_doubles_up_to_an_hour() -> None:
    backoff = Backoff(first=timedelta(seconds=30), most=timedelta(hours=1))
    item = transitions.Due(transitions.Kind.mediation, 1)
    pauses = [backoff.failed(item, RUN).retry_at - RUN for _ in range(10)]
    assert [p.total_seconds() for p in pauses] == [
        30,
        60,
        120,
        240,
        480,
        960,
        1920,
        3600,
        3600,
        3600,
    ]
    backoff.succeeded(item)
    assert backoff.ready(item, RUN)


def test_apply_due_in_one_session_skips_a_broken_item_too(
    session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    f.seller(session)
    buyer = f.buyer(session, "alice")
    orders = [f.order(session) for _ in range(2)]
    ids = [f.dispute(session, buyer, o).id for o in orders]
    session.execute(update(Dispute).where(Dispute.id == ids[0]).values(outcome="bogus"))
    caplog.set_level(logging.INFO, logger="dispute_backend")
    applied = transitions.apply_due(session, now=f.NOW + 5 * f.DAY, rs=RS)
    assert applied.mediations == 1
    states = dict(session.execute(select(Dispute.id, Dispute.state)).tuples().all())
    assert [states[pk] for pk in ids] == [DisputeState.negotiation, DisputeState.mediation]
    assert f"dispute {public_dispute_id(ids[0])} skipped: LookupError" in caplog.text
