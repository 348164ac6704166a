"""Reading disputes and the buyer taking the seller's offer, at the service level.

What a buyer, a seller and an operator are shown of a dispute (one read path for the buyer's
chat, the ORM one for everyone else, and the lists the console filters), and what ends a
dispute when the buyer accepts a counter-offer (R4, R6).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

import factories as f
from dispute_backend import errors
from dispute_backend.models import (
    Buyer,
    Dispute,
    DisputeState,
    Event,
    Order,
    Outcome,
    PaymentStatus,
    ProposalStatus,
    Resolution,
    public_dispute_id,
)
from dispute_backend.rules import RuleSettings
from dispute_backend.services import disputes, transitions

RS = RuleSettings()


def open_(session: Session, buyer: Buyer, order: Order, *, later: int = 0) -> Dispute:
    return f.dispute(
        session, buyer, order, description="Cracked screen.", now=f.NOW + timedelta(minutes=later)
    )


def counter(session: Session, dispute: Dispute, amount: str = "15.00") -> Dispute:
    """The seller's counter-offer an hour after the opening: `amount`, with the item back."""
    note, an_hour_later = "Half, if you send it back.", f.NOW + timedelta(hours=1)
    return f.counter(session, dispute, amount, note, with_return=True, now=an_hour_later)


def accept(session: Session, dispute: Dispute, version: int, now: datetime = f.NOW) -> Dispute:
    """Alice takes the seller's offer on `dispute`, holding `version` of it."""
    return disputes.buyer_accept_seller_proposal(
        session, dispute=dispute, buyer_id="alice", expected_version=version, now=now
    )


@pytest.fixture
def alice(session: Session) -> Buyer:
    f.seller(session)
    f.seller(session, "other-shop", key="other-key")
    f.buyer(session, "bob")
    return f.buyer(session, "alice")


def test_the_buyer_reads_the_same_dispute_as_everyone_else(session: Session, alice: Buyer) -> None:
    dispute = counter(session, open_(session, alice, f.order(session)))
    public = public_dispute_id(dispute.id)
    read = disputes.read_for_buyer(session, buyer_id="alice", public_id=public)
    assert read == disputes.record_of(dispute)
    assert read.public_id == public
    assert (read.order_title, read.order_amount, read.currency) == (
        "Test item",
        Decimal("40.00"),
        "EUR",
    )
    assert read.description == "Cracked screen."
    asked, offer = read.proposals  # the buyer's request when opening, then the counter-offer
    assert (asked.status, asked.refund_amount) == (ProposalStatus.rejected, Decimal("40.00"))
    assert (offer.refund_amount, offer.with_return, offer.status) == (
        Decimal("15.00"),
        True,
        ProposalStatus.pending,
    )
    assert offer.request == "Half, if you send it back."


def test_a_dispute_with_no_proposal_reads_with_none(session: Session, alice: Buyer) -> None:
    dispute = open_(session, alice, f.order(session))
    read = disputes.read_for_buyer(
        session, buyer_id="alice", public_id=public_dispute_id(dispute.id)
    )
    assert read.proposals == disputes.record_of(dispute).proposals


def test_a_buyer_never_reads_someone_elses_dispute(session: Session, alice: Buyer) -> None:
    public = public_dispute_id(open_(session, alice, f.order(session)).id)
    with pytest.raises(errors.DisputeNotFound):
        disputes.read_for_buyer(session, buyer_id="bob", public_id=public)
    with pytest.raises(errors.DisputeNotFound):
        disputes.get_for_buyer(session, buyer_id="bob", public_id=public)
    with pytest.raises(errors.BuyerTokenInvalid):
        disputes.read_for_buyer(session, buyer_id="nobody", public_id=public)


@pytest.mark.parametrize("public", ["D-0", "D-1", "X-10001", "", "D-99999999"])
def test_a_malformed_or_unknown_dispute_number_is_not_found_for_anyone(
    session: Session, alice: Buyer, public: str
) -> None:
    open_(session, alice, f.order(session))
    for read in (
        lambda: disputes.read_for_buyer(session, buyer_id="alice", public_id=public),
        lambda: disputes.get_for_buyer(session, buyer_id="alice", public_id=public),
        lambda: disputes.get_for_seller(session, seller_id="shop", public_id=public),
        lambda: disputes.get_any(session, public_id=public),
    ):
        with pytest.raises(errors.DisputeNotFound):
            read()


def test_each_party_finds_its_own_dispute(session: Session, alice: Buyer) -> None:
    dispute = open_(session, alice, f.order(session))
    public = public_dispute_id(dispute.id)
    assert disputes.get_for_buyer(session, buyer_id="alice", public_id=public) is dispute
    assert disputes.get_for_seller(session, seller_id="shop", public_id=public) is dispute
    assert disputes.get_any(session, public_id=public) is dispute
    with pytest.raises(errors.DisputeNotFound):
        disputes.get_for_seller(session, seller_id="other-shop", public_id=public)


def test_the_lists_filter_by_buyer_seller_order_and_state_newest_first(
    session: Session, alice: Buyer
) -> None:
    bob = session.get(Buyer, "bob")
    assert bob is not None
    first = open_(session, alice, f.order(session))
    second = open_(session, alice, f.order(session), later=1)
    other_order = f.order(session, buyer_id="bob", seller_id="other-shop")
    bobs = open_(session, bob, other_order, later=2)
    disputes.seller_accept(
        session,
        dispute=first,
        seller_id="shop",
        expected_version=first.version,
        now=f.NOW + timedelta(hours=1),
    )

    def ids(**filters: object) -> list[int]:
        return [d.id for d in disputes.list_disputes(session, **filters)]  # type: ignore[arg-type]

    assert ids(buyer_id="alice") == [second.id, first.id]
    assert ids(seller_id="other-shop") == [bobs.id]
    assert ids(order_id=other_order.id) == [bobs.id]
    assert ids(buyer_id="alice", in_progress=True) == [second.id]
    assert ids(buyer_id="alice", in_progress=False) == [first.id]
    assert ids(state=DisputeState.ended) == [first.id]
    assert ids(buyer_id="alice", state=DisputeState.negotiation) == [second.id]
    assert set(ids()) >= {first.id, second.id, bobs.id}


def test_the_buyer_taking_the_sellers_offer_ends_the_dispute_with_that_refund(
    session: Session, alice: Buyer
) -> None:
    order = f.order(session)
    dispute = counter(session, open_(session, alice, order))
    now = f.NOW + timedelta(hours=2)
    accept(session, dispute, dispute.version, now)
    assert dispute.state is DisputeState.ended
    assert (dispute.resolution, dispute.outcome) == (Resolution.agreement, Outcome.partial_refund)
    assert (dispute.resolved_refund_amount, dispute.resolved_with_return) == (
        Decimal("15.00"),
        True,
    )
    assert dispute.ended_at == now
    offer = dispute.proposals[-1]
    assert (offer.status, offer.decided_at) == (ProposalStatus.accepted, now)
    assert order.payment_status is PaymentStatus.refunded
    assert order.refunded_amount == Decimal("15.00")
    assert order.payment_settled_at == now
    kinds = session.scalars(
        select(Event.kind).where(Event.dispute_id == dispute.id).order_by(Event.id)
    ).all()
    assert kinds[-2:] == ["payment.refunded", "dispute.ended"]
    ended = session.scalars(
        select(Event).where(Event.dispute_id == dispute.id, Event.kind == "dispute.ended")
    ).one()
    assert (ended.actor_id, ended.data["outcome"], ended.data["refund_amount"]) == (
        "alice",
        "partial_refund",
        "15.00",
    )


def test_taking_an_offer_of_the_whole_amount_is_a_full_refund(
    session: Session, alice: Buyer
) -> None:
    dispute = counter(session, open_(session, alice, f.order(session)), amount="40.00")
    accept(session, dispute, dispute.version)
    assert dispute.outcome is Outcome.full_refund


def test_there_is_no_offer_to_take_before_the_seller_makes_one(
    session: Session, alice: Buyer
) -> None:
    dispute = open_(session, alice, f.order(session))
    with pytest.raises(errors.NoPendingProposal):
        accept(session, dispute, dispute.version)
    assert dispute.state is DisputeState.negotiation


def test_an_offer_read_before_a_change_cannot_be_taken(session: Session, alice: Buyer) -> None:
    dispute = counter(session, open_(session, alice, f.order(session)))
    with pytest.raises(errors.VersionConflict):
        accept(session, dispute, dispute.version - 1)
    assert dispute.state is DisputeState.negotiation


def test_an_ended_dispute_has_no_offer_left_to_take(session: Session, alice: Buyer) -> None:
    dispute = counter(session, open_(session, alice, f.order(session)))
    disputes.cancel(
        session, dispute=dispute, buyer_id="alice", expected_version=dispute.version, now=f.NOW
    )
    with pytest.raises(errors.TransitionNotAllowed):
        accept(session, dispute, dispute.version)


def log(session: Session, dispute: Dispute) -> list[tuple[object, ...]]:
    """The operators' audit trail of one dispute: who did what, to whom, with what."""
    rows = session.scalars(select(Event).where(Event.dispute_id == dispute.id).order_by(Event.id))
    return [
        (e.actor_type.value, e.actor_id, e.kind, e.order_id, e.buyer_id, e.data, e.occurred_at)
        for e in rows
    ]


def test_the_audit_trail_records_the_opening_the_counter_offer_and_the_rejection(
    session: Session, alice: Buyer
) -> None:
    order = f.order(session)
    dispute = open_(session, alice, order)
    asked = dispute.proposals[0].id
    counter(session, dispute)
    again = f.modify(session, dispute, "30.00", "30 then.", now=f.NOW + timedelta(hours=2))
    f.reject(session, again, "No.", now=f.NOW + timedelta(hours=3))
    trail = log(session, dispute)
    assert trail[0] == (
        "buyer",
        "alice",
        "dispute.opened",
        order.id,
        "alice",
        {
            "reason": "damaged",
            "requested_outcome": "full_refund",
            "refund_amount": "40.00",
            "with_return": False,
        },
        f.NOW,
    )
    assert trail[1] == (
        "seller",
        "shop",
        "proposal.countered",
        order.id,
        "alice",
        {"refund_amount": "15.00", "with_return": True},
        f.NOW + timedelta(hours=1),
    )
    assert [t[2] for t in trail[2:]] == ["proposal.modified", "proposal.rejected"]
    assert trail[-1][:5] == ("seller", "shop", "proposal.rejected", order.id, "alice")
    assert trail[-1][5] == {"proposal_id": dispute.proposals[-1].id, "note": "No."}
    assert asked != dispute.proposals[-1].id
    assert dispute.state is DisputeState.negotiation


def test_ending_with_no_refund_releases_the_payment_and_logs_it(
    session: Session, alice: Buyer
) -> None:
    order = f.order(session)
    dispute = counter(session, open_(session, alice, order), amount="0.01")
    decided = f.NOW + timedelta(days=6)
    disputes.escalate_to_mediation(session, dispute=dispute, now=decided)
    f.decide(session, dispute, "0", "Not damaged.", with_return=True, now=decided)
    assert (dispute.outcome, dispute.resolved_with_return) == (Outcome.no_refund, False)
    assert (order.payment_status, order.payment_settled_at) == (PaymentStatus.released, decided)
    trail = log(session, dispute)
    assert trail[-2][:6] == (
        "system",
        "payments",
        "payment.released",
        order.id,
        "alice",
        {"refunded_amount": "0", "currency": "EUR"},
    )
    assert trail[-1][2] == "dispute.ended"
    assert trail[-1][5] == {
        "resolution": "platform_decision",
        "outcome": "no_refund",
        "refund_amount": "0",
        "with_return": False,
    }


def test_a_payment_with_no_dispute_is_released_once_protection_ends_and_logged(
    session: Session, alice: Buyer
) -> None:
    received = f.NOW - 20 * f.DAY  # protection ended 15 days after receipt: 5 days ago
    order = f.order(session, receipt_at=received, tracking_at=received - 3 * f.DAY)
    still_covered = f.order(session)
    applied = transitions.apply_due(session, now=f.NOW, rs=RS)
    assert (applied.releases, applied.mediations, applied.not_received_refunds) == (1, 0, 0)
    assert applied.total == 1
    assert (order.payment_status, order.payment_settled_at) == (PaymentStatus.released, f.NOW)
    assert still_covered.payment_status is PaymentStatus.held
    (row,) = session.scalars(select(Event).where(Event.order_id == order.id)).all()
    assert (row.actor_type.value, row.actor_id, row.kind, row.buyer_id, row.dispute_id) == (
        "system",
        "scheduler",
        "payment.released",
        "alice",
        None,
    )
    assert row.data == {
        "due_at": (received + RS.protection_days * f.DAY).isoformat(),
        "reason": "protection period ended",
    }
    assert transitions.apply_due(session, now=f.NOW, rs=RS).total == 0


def test_the_scheduler_counts_each_kind_of_work_apart() -> None:
    applied = transitions.Applied()
    for kind in (
        transitions.Kind.mediation,
        transitions.Kind.not_received_refund,
        transitions.Kind.not_received_refund,
        transitions.Kind.release,
    ):
        applied.count(kind)
    assert (applied.mediations, applied.not_received_refunds, applied.releases) == (1, 2, 1)
    assert applied.total == 4
