"""Deciding a dispute in mediation and an abuse review from the console: done, and refused
with the backend's reason shown (nothing changed)."""

from __future__ import annotations

from conftest import Console
from dispute_backend.enums import DisputeState, Resolution, ReviewStatus


def test_an_operator_decides_a_mediated_dispute(console: Console) -> None:
    dispute = console.backend.mediated_dispute()
    marta = console.signed_in("op-marta")
    assert dispute.public_id in marta.page("/disputes").text

    answer = marta.submit(
        f"/disputes/{dispute.public_id}/decision",
        version=str(dispute.version),
        refund_amount="10.00",
        with_return="on",
        note="half the size",
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/disputes"
    assert marta.flash("/disputes") == f"Dispute {dispute.public_id} decided."
    decided = console.backend.dispute(dispute.id)
    assert decided.state == DisputeState.ended
    assert decided.resolution == Resolution.platform_decision
    assert str(decided.resolved_refund_amount) == "10.00"
    assert dispute.public_id not in marta.page("/disputes").text


def test_a_stale_or_impossible_dispute_decision_is_refused(console: Console) -> None:
    dispute = console.backend.mediated_dispute()
    marta = console.signed_in("op-marta")
    path = f"/disputes/{dispute.public_id}/decision"

    stale = marta.submit(path, version=str(dispute.version - 1), refund_amount="5.00")
    assert stale.status_code == 303
    assert marta.flash("/disputes").startswith(f"{dispute.public_id}: ")
    too_much = marta.submit(path, version=str(dispute.version), refund_amount="100000.00")
    assert too_much.status_code == 303
    assert marta.flash("/disputes").startswith(f"{dispute.public_id}: ")
    unchanged = console.backend.dispute(dispute.id)
    assert (unchanged.state, unchanged.version) == (DisputeState.mediation, dispute.version)


def test_an_operator_decides_an_abuse_review_once(console: Console) -> None:
    review = console.backend.open_review()
    marta = console.signed_in("op-marta")
    assert f"Review {review.id}:" in marta.page("/reviews").text

    answer = marta.submit(f"/reviews/{review.id}/decision", decision="clear", note="a fan")
    assert answer.status_code == 303 and answer.headers["location"] == "/reviews"
    assert marta.flash("/reviews") == f"Review {review.id} decided."
    decided = console.backend.review(review.id)
    assert (decided.status, decided.operator_id) == (ReviewStatus.cleared, "op-marta")

    again = marta.submit(f"/reviews/{review.id}/decision", decision="close_account")
    assert again.status_code == 303
    assert marta.flash("/reviews") == f"Review {review.id}: This review was already decided."
    assert console.backend.review(review.id).status == ReviewStatus.cleared


def test_an_unknown_review_decision_is_refused(console: Console) -> None:
    review = console.backend.open_review()
    marta = console.signed_in("op-marta")
    answer = marta.submit(f"/reviews/{review.id}/decision", decision="ban-forever")
    assert answer.status_code == 303
    assert marta.flash("/reviews").startswith(f"Review {review.id}: ")
    assert console.backend.review(review.id).status == ReviewStatus.open
