"""Linking a Telegram/Messenger chat to a buyer, unlinking, the "link first" answer for order
questions from unlinked chats, and files sent on those channels attached as evidence."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.accounts import ActionUnlinkAccount, ValidateLinkAccountForm
from actions.backend_client import (
    CHANNEL_IDENTITY,
    BuyerNotIdentified,
    ChannelAccountNotLinked,
    Credential,
    Dispute,
    EvidenceFile,
)
from actions.common import buyer_credential
from actions.evidence import ActionAttachEvidence
from actions.manage_dispute import ActionCheckDisputeStatus
from tests.actions.conftest import PHOTO, make_tracker, responses
from tests.actions.fake_backend import InMemoryChannelBackend, make_order

ACCOUNT = "telegram:4242"
LINKED = f"channel:{ACCOUNT}"  # how the fake backend keys a linked account
CODE = "654321"


class FakeChannelBackend(InMemoryChannelBackend):
    def __init__(self) -> None:
        super().__init__()
        self.link_code = CODE


def channel_tracker(
    slots: dict[str, Any] | None = None,
    *,
    text: str = "hi",
    channel: str = "telegram",
    files: list[dict[str, Any]] | None = None,
    requested_slot: str | None = None,
    verified: bool = True,
) -> Tracker:
    """A message that came through the channel's verified webhook: the conversation is
    named after the account, and the metadata carries the signed identity (and files)."""
    tracker = make_tracker(
        slots,
        text=text,
        token=None,
        requested_slot=requested_slot,
        active_loop="link_account_form" if requested_slot else None,
    )
    tracker.sender_id = f"{channel}:4242"
    tracker.events[-1]["input_channel"] = channel
    facts: dict[str, Any] = {"channel": channel}
    if verified:
        facts["identity"] = f"identity:{tracker.sender_id}"
    if files is not None:
        facts["attachments"] = files
    tracker.latest_message["metadata"] = {"verified": facts}
    return tracker


def dispute(dispute_id: str, order_id: str = "8123456789012345") -> Dispute:
    return Dispute(
        id=dispute_id,
        order_id=order_id,
        reason="damaged",
        state="negotiation",
        status_label="Dispute in progress",
        version=1,
        refund_amount=Decimal("40"),
        currency="USD",
        with_return=False,
    )


# --- who the buyer is ----------------------------------------------------------------------


def test_a_telegram_user_is_known_by_the_identity_the_channel_signed() -> None:
    credential = buyer_credential(channel_tracker())
    assert credential == Credential(f"identity:{ACCOUNT}", ACCOUNT, kind=CHANNEL_IDENTITY)
    assert credential.headers() == {
        "X-Channel-Identity": f"identity:{ACCOUNT}",
        "X-Conversation-Id": ACCOUNT,
    }
    assert buyer_credential(channel_tracker(channel="facebook")) == Credential(
        "identity:facebook:4242", "facebook:4242", kind=CHANNEL_IDENTITY
    )
    token = Credential("token-alice", "conversation-1")
    assert token.headers() == {
        "X-Buyer-Token": "token-alice",
        "X-Conversation-Id": "conversation-1",
    }
    assert "token-alice" not in repr(token)  # a credential never shows in a log line


def test_a_channel_name_or_a_sender_id_proves_nothing() -> None:
    """The REST body can name a channel and a Telegram user's id: with no signed identity
    in the current message, nobody is identified."""
    assert buyer_credential(channel_tracker(verified=False)) is None
    tracker = make_tracker(token=None)
    tracker.sender_id = ACCOUNT
    tracker.events[-1]["input_channel"] = "telegram"
    assert buyer_credential(tracker) is None
    # metadata written by a client, under the wrong key or for another channel
    tracker.latest_message["metadata"] = {
        "identity": f"identity:{ACCOUNT}",
        "verified": {"channel": "rest", "identity": "x"},
    }
    assert buyer_credential(tracker) is None


def test_the_chat_token_still_wins() -> None:
    tracker = make_tracker(token="token-alice")
    tracker.events[-1]["input_channel"] = "telegram"
    assert buyer_credential(tracker) == Credential("token-alice", "conversation-1")


async def test_an_unlinked_chat_is_asked_to_link_and_sees_no_order_data() -> None:
    backend = FakeChannelBackend()
    backend.add_order("alice", make_order())
    dispatcher = CollectingDispatcher()
    await ActionCheckDisputeStatus(backend).run(dispatcher, channel_tracker(), {})
    assert responses(dispatcher) == ["utter_link_account_needed"]
    assert issubclass(ChannelAccountNotLinked, BuyerNotIdentified)


# --- linking -------------------------------------------------------------------------------


def validate_email(
    backend: FakeChannelBackend, email: str, dispatcher: CollectingDispatcher
) -> dict[str, Any]:
    form = ValidateLinkAccountForm(backend)
    return form.validate_link_email(email, dispatcher, channel_tracker(), {})


def validate_code(
    backend: FakeChannelBackend, code: str, dispatcher: CollectingDispatcher
) -> dict[str, Any]:
    form = ValidateLinkAccountForm(backend)
    return form.validate_link_code(code, dispatcher, channel_tracker(), {})


def test_link_with_the_code() -> None:
    backend = FakeChannelBackend()
    dispatcher = CollectingDispatcher()
    assert validate_email(backend, "Alice@Example.com", dispatcher) == {
        "link_email": "alice@example.com"
    }
    assert validate_code(backend, f"the code is {CODE}", dispatcher) == {"link_code": "linked"}
    assert responses(dispatcher) == ["utter_link_code_sent", "utter_account_linked"]
    assert dispatcher.messages[1]["name"] == "Alice"
    assert backend.tokens[LINKED] == "alice"


def test_an_unknown_email_gets_the_same_answer() -> None:
    backend = FakeChannelBackend()
    known, unknown = CollectingDispatcher(), CollectingDispatcher()
    validate_email(backend, "alice@example.com", known)
    validate_email(backend, "nobody@example.com", unknown)
    assert responses(known) == responses(unknown) == ["utter_link_code_sent"]


def test_not_an_email_is_asked_again() -> None:
    dispatcher = CollectingDispatcher()
    assert validate_email(FakeChannelBackend(), "my name is alice", dispatcher) == {
        "link_email": None
    }
    assert responses(dispatcher) == ["utter_link_email_invalid"]


def test_wrong_codes_then_too_many() -> None:
    backend = FakeChannelBackend()
    validate_email(backend, "alice@example.com", CollectingDispatcher())
    dispatcher = CollectingDispatcher()
    assert validate_code(backend, "111111", dispatcher) == {"link_code": None}
    assert dispatcher.messages[-1]["attempts_left"] == 4
    assert validate_code(backend, "12", dispatcher) == {"link_code": None}
    assert responses(dispatcher)[-1] == "utter_link_code_format"
    for _ in range(3):
        validate_code(backend, "111111", dispatcher)
    assert validate_code(backend, "111111", dispatcher) == {"link_code": "stopped"}
    assert responses(dispatcher)[-1] == "utter_link_code_expired"


def test_rate_limited_stops_the_form() -> None:
    backend = FakeChannelBackend()
    backend.rate_limited = True
    dispatcher = CollectingDispatcher()
    assert validate_email(backend, "alice@example.com", dispatcher)["link_code"] == "stopped"
    assert responses(dispatcher) == ["utter_link_code_rate_limited"]


def test_the_web_chat_has_nothing_to_link() -> None:
    dispatcher = CollectingDispatcher()
    form = ValidateLinkAccountForm(FakeChannelBackend())
    result = form.validate_link_email("alice@example.com", dispatcher, make_tracker(), {})
    assert result["link_code"] == "not_needed"
    assert responses(dispatcher) == ["utter_link_not_needed"]


async def test_unlink() -> None:
    backend = FakeChannelBackend()
    backend.tokens[LINKED] = "alice"
    dispatcher = CollectingDispatcher()
    assert await ActionUnlinkAccount(backend).run(dispatcher, channel_tracker(), {}) == []
    assert responses(dispatcher) == ["utter_account_unlinked"]
    assert LINKED not in backend.tokens


# --- evidence ------------------------------------------------------------------------------


def linked_backend(*disputes: Dispute) -> FakeChannelBackend:
    backend = FakeChannelBackend()
    backend.tokens[LINKED] = "alice"
    backend.disputes_by_buyer["alice"] = list(disputes)
    return backend


def fetch(attachment: dict[str, Any]) -> EvidenceFile:
    return EvidenceFile(f"{attachment['file_id']}.jpg", b"\xff\xd8\xff", "image/jpeg")


async def test_a_photo_goes_to_the_only_dispute_in_progress() -> None:
    backend = linked_backend(dispute("D-1"))
    dispatcher = CollectingDispatcher()
    action = ActionAttachEvidence(backend, fetch)
    tracker = channel_tracker(files=[PHOTO])
    events = await action.run(dispatcher, tracker, {})
    assert [(d, desc, f.filename) for d, desc, f in backend.evidence] == [
        ("D-1", "the crack", "F1.jpg")
    ]
    assert responses(dispatcher) == ["utter_evidence_added"]
    assert SlotSet("pending_evidence", None) in events


async def test_with_several_disputes_it_asks_which_then_attaches() -> None:
    backend = linked_backend(dispute("D-1"), dispute("D-2", "8999999999999999"))
    action = ActionAttachEvidence(backend, fetch)
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, channel_tracker(files=[PHOTO]), {})
    assert responses(dispatcher) == ["utter_ask_evidence_dispute"]
    assert len(dispatcher.messages[0]["buttons"]) == 2
    assert SlotSet("pending_evidence", [PHOTO]) in events and backend.evidence == []
    dispatcher = CollectingDispatcher()
    later = channel_tracker({"pending_evidence": [PHOTO], "evidence_dispute_id": "D-2"})
    await action.run(dispatcher, later, {})
    assert [d for d, _, _ in backend.evidence] == ["D-2"]


async def test_unlinked_chats_cannot_attach() -> None:
    backend = FakeChannelBackend()
    dispatcher = CollectingDispatcher()
    action = ActionAttachEvidence(backend, fetch)
    await action.run(dispatcher, channel_tracker(files=[PHOTO]), {})
    assert responses(dispatcher) == ["utter_link_account_needed"]
