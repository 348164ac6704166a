"""What the buyer is told when the backend refuses, or something changed meanwhile: every
refusal a change, a cancel, an open or a file can get, against the fake that behaves as the
backend does (tests/contract)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.backend_client import (
    BackendError,
    Conflict,
    Credential,
    Dispute,
    EvidenceFile,
    NewDispute,
    Refused,
)
from actions.evidence import ActionAttachEvidence
from actions.manage_dispute import (
    ActionCancelDispute,
    ActionModifyDispute,
    ValidateDisputeCancelForm,
    ValidateDisputeChangeForm,
)
from actions.open_dispute import ActionOpenDispute, ValidateDisputeForm
from tests.actions.conftest import ALICE, CHANGE, ORDER, PHOTO, make_tracker, open_one, responses
from tests.actions.fake_backend import InMemoryChannelBackend, InMemoryDisputeBackend, make_order
from tests.actions.test_accounts import LINKED, channel_tracker


class ChangedMeanwhile(InMemoryChannelBackend):
    """Between the action reading the buyer's disputes and writing, something else happens
    to each dispute read: `meanwhile(backend, dispute)`, once."""

    def __init__(self, meanwhile: Callable[[InMemoryDisputeBackend, Dispute], object]) -> None:
        super().__init__()
        self.meanwhile = meanwhile
        self.done = False

    def disputes(self, buyer: Credential, *, order_id: str | None = None) -> list[Dispute]:
        found = super().disputes(buyer, order_id=order_id)
        if not self.done:
            self.done = True
            for dispute in found:
                self.meanwhile(self, dispute)
        return found


def seller_counters(backend: InMemoryDisputeBackend, dispute: Dispute) -> None:
    """A new version: the seller's counter-offer, as the backend records it."""
    items = backend.disputes_by_buyer["alice"]
    index = next(i for i, d in enumerate(items) if d.id == dispute.id)
    items[index] = Dispute(**{**items[index].__dict__, "version": items[index].version + 1})


def buyer_cancels_elsewhere(backend: InMemoryDisputeBackend, dispute: Dispute) -> None:
    backend.cancel_dispute(ALICE, dispute.id, version=dispute.version, idempotency_key="other")


def race(meanwhile: Callable[[InMemoryDisputeBackend, Dispute], object]) -> ChangedMeanwhile:
    backend = ChangedMeanwhile(meanwhile)
    backend.add_order("alice", make_order())
    open_one(backend)
    return backend


CANCEL = {"order_id": ORDER, "cancel_confirmed": True}


# --- changed meanwhile: a 409 or 412 is a conflict, never a success or a plain refusal ------


# Each submission: the backend call it makes, the action, the form's answers.
SUBMISSIONS = {
    "change": ("modify_proposal", ActionModifyDispute, CHANGE),
    "cancel": ("cancel_dispute", ActionCancelDispute, CANCEL),
}


@pytest.mark.parametrize("meanwhile", [seller_counters, buyer_cancels_elsewhere])
@pytest.mark.parametrize("submission", list(SUBMISSIONS))
async def test_a_change_or_cancel_that_lost_a_race_says_so_and_is_not_done(
    submission: str, meanwhile: Callable[[InMemoryDisputeBackend, Dispute], object]
) -> None:
    _, action, slots = SUBMISSIONS[submission]
    backend, dispatcher = race(meanwhile), CollectingDispatcher()
    events = await action(backend).run(dispatcher, make_tracker(slots), {})
    assert responses(dispatcher) == ["utter_dispute_changed_meanwhile"]
    assert backend.disputes_by_buyer["alice"][0].refund_amount == Decimal("40.00")
    assert SlotSet(f"{submission}_confirmed", None) in events


def refusing(
    backend: InMemoryDisputeBackend, method: str, error: BackendError
) -> InMemoryDisputeBackend:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise error

    setattr(backend, method, refuse)
    return backend


KEY_REUSED = Refused(
    "reused",
    problem="idempotency-key-reused",
    status=422,
    detail="This Idempotency-Key was used for a different request.",
)


@pytest.mark.parametrize("submission", list(SUBMISSIONS))
async def test_a_refused_change_or_cancel_says_why_and_never_that_it_is_done(
    submission: str, backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    method, action, slots = SUBMISSIONS[submission]
    open_one(backend)
    refusing(backend, method, KEY_REUSED)
    await action(backend).run(dispatcher, make_tracker(slots), {})
    assert responses(dispatcher) == ["utter_dispute_refused"]
    assert dispatcher.messages[0]["reason"] == KEY_REUSED.detail
    assert backend.disputes_by_buyer["alice"][0].in_progress


async def test_a_conflict_at_submission_is_not_a_success(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    """412 and 409 answers read as 'changed meanwhile' (the client's Conflict), for a change
    and for a cancel alike, whatever the slug."""
    open_one(backend)
    for method, action, slots in SUBMISSIONS.values():
        for status, slug in ((412, "version-conflict"), (409, "transition-not-allowed")):
            said = CollectingDispatcher()
            refusing(backend, method, Conflict(slug, problem=slug, status=status, detail=slug))
            await action(backend).run(said, make_tracker(slots), {})
            assert responses(said) == ["utter_dispute_changed_meanwhile"], (method, slug)


async def test_a_declined_change_changes_nothing(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    open_one(backend)
    slots = {**CHANGE, "change_confirmed": False}
    await ActionModifyDispute(backend).run(dispatcher, make_tracker(slots), {})
    assert responses(dispatcher) == ["utter_dispute_not_changed"]
    assert backend.disputes_by_buyer["alice"][0].version == 1


# --- a dispute already open, a dispute already ended ----------------------------------------


async def test_an_order_with_a_dispute_in_progress_says_there_is_one_already(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    opened = open_one(backend)
    tracker = make_tracker(
        active_loop="dispute_form",
        requested_slot="order_id",
        entities=[{"entity": "order_id", "value": ORDER}],
    )
    result = ValidateDisputeForm(backend).validate_order_id(ORDER, dispatcher, tracker, {})
    assert result == {"order_id": ORDER, "dispute_blocked": "dispute_already_open"}
    assert responses(dispatcher) == ["utter_dispute_already_open"]
    assert dispatcher.messages[0]["dispute_id"] == opened.id


async def test_opening_when_one_was_opened_meanwhile_says_why(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    """The form checked the order; another chat opened a dispute before the confirmation."""
    open_one(backend)
    slots = {
        "order_id": ORDER,
        "dispute_reason": "damaged",
        "requested_outcome": "full_refund",
        "with_return": False,
        "dispute_description": "Broken on arrival, no sound.",
        "dispute_confirmed": True,
    }
    events = await ActionOpenDispute(backend).run(dispatcher, make_tracker(slots), {})
    assert responses(dispatcher) == ["utter_dispute_refused"]
    assert dispatcher.messages[0]["reason"] == "A dispute is already in progress for this order."
    assert SlotSet("dispute_confirmed", None) in events
    assert len(backend.disputes_by_buyer["alice"]) == 1


@pytest.mark.parametrize("form", [ValidateDisputeChangeForm, ValidateDisputeCancelForm])
async def test_a_dispute_that_ended_cannot_be_changed_and_says_so(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher, form: type
) -> None:
    opened = open_one(backend)
    backend.cancel_dispute(ALICE, opened.id, version=1, idempotency_key="cancel")
    tracker = make_tracker(active_loop="dispute_change_form", requested_slot="order_id")
    result = form(backend).validate_order_id(ORDER, dispatcher, tracker, {})
    assert result == {"order_id": ORDER, "dispute_blocked": "dispute_ended"}
    assert responses(dispatcher) == ["utter_dispute_already_ended"]
    assert opened.id in dispatcher.messages[0]["details"]
    assert "cancelled" in dispatcher.messages[0]["details"]


async def test_the_latest_of_an_orders_ended_disputes_is_the_one_described(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    """The backend lists newest first and the action takes the first: the refund that ended
    the second dispute, not the cancellation of the first."""
    first = open_one(backend)
    backend.cancel_dispute(ALICE, first.id, version=1, idempotency_key="cancel")
    request = NewDispute(ORDER, "damaged", "full_refund", None, False, "Still broken.")
    second = backend.open_dispute(ALICE, request, idempotency_key="again")
    backend.settle("alice", second.id)
    tracker = make_tracker(active_loop="dispute_change_form", requested_slot="order_id")
    ValidateDisputeChangeForm(backend).validate_order_id(ORDER, dispatcher, tracker, {})
    details = dispatcher.messages[0]["details"]
    assert second.id in details and "refund of 40.00 USD" in details
    assert first.id not in details


async def test_a_closed_account_or_a_settled_order_is_not_eligible_with_the_reason(
    backend: InMemoryDisputeBackend,
) -> None:
    opened = open_one(backend)
    backend.settle("alice", opened.id)
    tracker = make_tracker(
        active_loop="dispute_form",
        requested_slot="order_id",
        entities=[{"entity": "order_id", "value": ORDER}],
    )
    form = ValidateDisputeForm(backend)
    settled = CollectingDispatcher()
    assert form.validate_order_id(ORDER, settled, tracker, {})["dispute_blocked"] == (
        "order_already_resolved"
    )
    backend.closed_accounts.add("alice")
    closed = CollectingDispatcher()
    assert form.validate_order_id(ORDER, closed, tracker, {})["dispute_blocked"] == (
        "account_closed"
    )
    assert responses(settled) == responses(closed) == ["utter_not_eligible"]
    assert "already ended" in settled.messages[0]["reason"]
    assert "closed" in closed.messages[0]["reason"]


# --- evidence: a refused file is never counted as added ---------------------------------------


def evidence_backend() -> InMemoryChannelBackend:
    backend = InMemoryChannelBackend()
    backend.tokens[LINKED] = "alice"
    backend.add_order("alice", make_order())
    backend.open_dispute(
        Credential(f"identity:{LINKED[8:]}", LINKED[8:], kind="channel-identity"),
        NewDispute(ORDER, "damaged", "full_refund", None, False, "Broken."),
        idempotency_key="open",
    )
    return backend


def fetched(content: bytes) -> Callable[[dict[str, Any]], EvidenceFile]:
    def fetch(attachment: dict[str, Any]) -> EvidenceFile:
        return EvidenceFile(f"{attachment['file_id']}.jpg", content, "image/jpeg")

    return fetch


JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 100


@pytest.mark.parametrize("why", ["too large", "not a picture", "limit reached", "dispute ended"])
async def test_a_refused_file_is_not_added(why: str) -> None:
    backend, content = evidence_backend(), JPEG
    dispute_id = backend.disputes_by_buyer["alice"][0].id
    if why == "too large":
        backend.max_evidence_bytes = len(JPEG) - 1
    elif why == "not a picture":
        content = b"MZ\x90\x00 an executable named like a photo"
    elif why == "limit reached":
        backend.max_evidence_files = 0
    else:
        refusing(
            backend,
            "add_evidence",
            Conflict("ended", problem="transition-not-allowed", status=409, detail="ended"),
        )
    dispatcher = CollectingDispatcher()
    action = ActionAttachEvidence(backend, fetched(content))
    await action.run(dispatcher, channel_tracker(files=[PHOTO]), {})
    assert responses(dispatcher) == ["utter_evidence_not_added"]
    assert dispatcher.messages[0]["dispute_id"] == dispute_id
    assert backend.evidence == []


async def test_of_two_files_only_the_one_accepted_is_counted() -> None:
    backend = evidence_backend()
    backend.max_evidence_files = 1
    dispatcher = CollectingDispatcher()
    files = [PHOTO, {**PHOTO, "file_id": "F2"}]
    await ActionAttachEvidence(backend, fetched(JPEG)).run(
        dispatcher, channel_tracker(files=files), {}
    )
    assert responses(dispatcher) == ["utter_evidence_added"]
    assert dispatcher.messages[0]["count"] == 1
    assert [f.filename for _, _, f in backend.evidence] == ["F1.jpg"]


async def test_a_file_that_cannot_be_fetched_is_not_added() -> None:
    backend = evidence_backend()

    def broken(attachment: dict[str, Any]) -> EvidenceFile:
        raise OSError("connection reset")

    dispatcher = CollectingDispatcher()
    await ActionAttachEvidence(backend, broken).run(dispatcher, channel_tracker(files=[PHOTO]), {})
    assert responses(dispatcher) == ["utter_evidence_not_added"]


async def test_a_message_without_a_file_asks_for_one() -> None:
    backend = evidence_backend()
    dispatcher = CollectingDispatcher()
    await ActionAttachEvidence(backend, fetched(JPEG)).run(
        dispatcher, channel_tracker(files=[]), {}
    )
    assert responses(dispatcher) == ["utter_evidence_send_a_file"]


async def test_no_dispute_in_progress_means_nowhere_to_add_the_file() -> None:
    backend = evidence_backend()
    dispute = backend.disputes_by_buyer["alice"][0]
    backend.settle("alice", dispute.id)
    dispatcher = CollectingDispatcher()
    events = await ActionAttachEvidence(backend, fetched(JPEG)).run(
        dispatcher, channel_tracker(files=[PHOTO]), {}
    )
    assert responses(dispatcher) == ["utter_evidence_no_dispute"]
    assert SlotSet("pending_evidence", None) in events and backend.evidence == []
