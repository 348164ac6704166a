"""Every action in every dispute state: allowed ones succeed, forbidden ones change nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session

import factories as f
from dispute_backend import errors
from dispute_backend.enums import DisputeState
from dispute_backend.models import Dispute
from dispute_backend.rules import RuleSettings
from dispute_backend.services import disputes, transitions

RS = RuleSettings()
LATER = f.NOW + 6 * f.DAY  # after the negotiation deadline

Action = Callable[[Session, Dispute, int], object]  # (session, dispute, expected version)

ACTIONS: dict[str, Action] = {
    "buyer_modify": lambda s, d, v: f.modify(s, d, "10.00", version=v, now=LATER),
    "buyer_cancel": lambda s, d, v: disputes.cancel(
        s, dispute=d, buyer_id="alice", expected_version=v, now=LATER
    ),
    "seller_accept": lambda s, d, v: disputes.seller_accept(
        s, dispute=d, seller_id="shop", expected_version=v, now=LATER
    ),
    "seller_reject": lambda s, d, v: f.reject(s, d, version=v, now=LATER),
    "seller_counter": lambda s, d, v: f.counter(s, d, "5.00", version=v, now=LATER),
    "platform_decide": lambda s, d, v: f.decide(s, d, "20.00", version=v, now=LATER),
}

ALLOWED = {
    DisputeState.negotiation: {
        "buyer_modify",
        "buyer_cancel",
        "seller_accept",
        "seller_reject",
        "seller_counter",
    },
    DisputeState.mediation: {
        "buyer_modify",
        "buyer_cancel",
        "seller_accept",
        "seller_reject",
        "seller_counter",
        "platform_decide",
    },
    DisputeState.ended: set(),
}


def dispute_in(session: Session, state: DisputeState) -> Dispute:
    f.seller(session)
    f.operator(session)
    buyer = f.buyer(session, "alice")
    order = f.order(session)
    d = f.dispute(session, buyer, order)
    if state is DisputeState.mediation:
        transitions.apply_due(session, now=LATER, rs=RS)
    elif state is DisputeState.ended:
        disputes.cancel(session, dispute=d, buyer_id="alice", expected_version=1, now=f.NOW)
    assert d.state is state
    return d


@pytest.mark.parametrize("state", list(DisputeState))
@pytest.mark.parametrize("action", list(ACTIONS))
def test_transition(session: Session, state: DisputeState, action: str) -> None:
    d = dispute_in(session, state)
    before = (d.state, d.version, len(d.proposals))
    if action in ALLOWED[state]:
        ACTIONS[action](session, d, d.version)
        assert d.version == before[1] + 1
    else:
        with pytest.raises(errors.TransitionNotAllowed):
            ACTIONS[action](session, d, d.version)
        assert (d.state, d.version, len(d.proposals)) == before


@pytest.mark.parametrize("action", list(ACTIONS))
def test_stale_version_is_refused_for_every_action(session: Session, action: str) -> None:
    d = dispute_in(session, DisputeState.mediation)
    before = (d.state, d.version, len(d.proposals))
    with pytest.raises(errors.VersionConflict):
        ACTIONS[action](session, d, d.version - 1)
    assert (d.state, d.version, len(d.proposals)) == before
