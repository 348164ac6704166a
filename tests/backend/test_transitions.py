"""Time-driven transitions: due exactly on time, idempotent, correct after downtime."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

import factories as f
from dispute_backend.enums import (
    DisputeReason,
    DisputeState,
    PaymentStatus,
    Resolution,
    ShippingStatus,
)
from dispute_backend.models import Buyer, Event, Order
from dispute_backend.rules import RuleSettings
from dispute_backend.services import disputes, transitions

RS = RuleSettings()
DAY = f.DAY


def setup(session: Session, **order_kw: object) -> tuple[Buyer, Order]:
    f.seller(session)
    b = f.buyer(session, "alice")
    o = f.order(session, **order_kw)  # type: ignore[arg-type]
    return b, o


def open_(session: Session, b: Buyer, o: Order, reason: DisputeReason = DisputeReason.damaged):
    return f.dispute(session, b, o, reason=reason)


def test_mediation_exactly_at_5_days_and_only_once(session: Session) -> None:
    b, o = setup(session)
    d = open_(session, b, o)
    assert (
        transitions.apply_due(session, now=f.NOW + 5 * DAY - timedelta(seconds=1), rs=RS).total == 0
    )
    assert d.state is DisputeState.negotiation
    assert transitions.apply_due(session, now=f.NOW + 5 * DAY, rs=RS).mediations == 1
    assert d.state is DisputeState.mediation and d.version == 2
    assert transitions.apply_due(session, now=f.NOW + 5 * DAY, rs=RS).total == 0
    assert transitions.apply_due(session, now=f.NOW + 9 * DAY, rs=RS).mediations == 0
    assert d.version == 2


def test_catch_up_after_downtime_dates_the_transition_at_its_deadline(session: Session) -> None:
    b, o = setup(session)
    d = open_(session, b, o)
    transitions.apply_due(session, now=f.NOW + 8 * DAY, rs=RS)  # the service was down 3 days
    assert d.mediation_started_at == f.NOW + 5 * DAY
    kinds = session.scalars(select(Event.kind).where(Event.dispute_id == d.id)).all()
    assert kinds.count("dispute.mediation_started") == 1


def test_cancelled_dispute_releases_payment_only_when_protection_ends(session: Session) -> None:
    b, o = setup(session, receipt_at=f.NOW - DAY)  # protection ends at NOW + 14 days
    d = open_(session, b, o)
    disputes.cancel(session, dispute=d, buyer_id=b.id, expected_version=1, now=f.NOW + DAY)
    assert o.payment_status is PaymentStatus.held
    assert transitions.apply_due(session, now=f.NOW + 14 * DAY, rs=RS).releases == 0
    assert o.payment_status is PaymentStatus.held
    applied = transitions.apply_due(session, now=f.NOW + 14 * DAY + timedelta(seconds=1), rs=RS)
    assert applied.releases == 1 and o.payment_status is PaymentStatus.released
    assert transitions.apply_due(session, now=f.NOW + 30 * DAY, rs=RS).releases == 0


def test_payment_stays_held_while_a_dispute_runs_past_the_window(session: Session) -> None:
    b, o = setup(session, receipt_at=f.NOW - 14 * DAY)  # window ends tomorrow
    open_(session, b, o)
    transitions.apply_due(session, now=f.NOW + 3 * DAY, rs=RS)
    assert o.payment_status is PaymentStatus.held


def test_no_tracking_means_no_release(session: Session) -> None:
    _, o = setup(session, tracking_at=None, receipt_at=None, deadline=f.NOW - 40 * DAY)
    transitions.apply_due(session, now=f.NOW, rs=RS)
    assert o.payment_status is PaymentStatus.held


def test_not_received_is_refunded_when_no_satisfactory_information(session: Session) -> None:
    b, o = setup(session, receipt_at=None, status=ShippingStatus.in_transit)
    d = open_(session, b, o, DisputeReason.not_received)
    transitions.apply_due(session, now=f.NOW + 5 * DAY, rs=RS)
    assert d.state is DisputeState.mediation and o.payment_status is PaymentStatus.held
    assert transitions.apply_due(session, now=f.NOW + 14 * DAY, rs=RS).not_received_refunds == 0
    applied = transitions.apply_due(session, now=f.NOW + 15 * DAY, rs=RS)
    assert applied.not_received_refunds == 1
    assert d.resolution is Resolution.timeout and o.payment_status is PaymentStatus.refunded
    assert o.refunded_amount == Decimal("40.00")
    assert transitions.apply_due(session, now=f.NOW + 16 * DAY, rs=RS).total == 0


def test_delivery_scan_leaves_the_decision_to_an_operator(session: Session) -> None:
    b, o = setup(session, receipt_at=None, status=ShippingStatus.in_transit)
    d = open_(session, b, o, DisputeReason.not_received)
    o.shipping_status = ShippingStatus.delivered
    transitions.apply_due(session, now=f.NOW + 30 * DAY, rs=RS)
    assert d.state is DisputeState.mediation
