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
    CHANNEL_ACCOUNT_PREFIX,
    BuyerNotIdentified,
    ChannelAccountNotLinked,
    ChannelBackend,
    Dispute,
    EvidenceFile,
    LinkAttempt,
    Refused,
    credential_headers,
)
from actions.common import buyer_credential
from actions.evidence import ActionAttachEvidence
from actions.manage_dispute import ActionCheckDisputeStatus
from tests.actions.conftest import make_tracker, responses
from tests.actions.fake_backend import InMemoryDisputeBackend, make_order

ACCOUNT = "telegram:4242"
CODE = "654321"


class FakeChannelBackend(InMemoryDisputeBackend, ChannelBackend):
    def __init__(self) -> None:
        super().__init__()
        self.codes: dict[str, tuple[str, str]] = {}  # account -> (buyer id, code)
        self.attempts: dict[str, int] = {}
        self.evidence: list[tuple[str, str, EvidenceFile]] = []
        self.rate_limited = False

    def _buyer(self, token: str, call: str) -> str:
        if token.startswith(CHANNEL_ACCOUNT_PREFIX) and token not in self.tokens:
            self.calls.append((call, token))
            raise ChannelAccountNotLinked("not linked", problem="channel-account-not-linked",
                                          status=401)  # fmt: skip
        return super()._buyer(token, call)

    def request_link_code(self, account: str, email: str) -> None:
        if self.rate_limited:
            raise Refused("too many", problem="link-code-rate-limited", status=429)
        if email == "alice@example.com":
            self.codes[account] = ("alice", CODE)
        self.attempts[account] = 0

    def link_account(self, account: str, code: str) -> LinkAttempt:
        buyer_id, expected = self.codes.get(account, ("", ""))
        self.attempts[account] = self.attempts.get(account, 0) + 1
        left = 5 - self.attempts[account]
        if left < 0:
            return LinkAttempt(linked=False, problem="link-code-attempts-exceeded")
        if not buyer_id or code != expected:
            return LinkAttempt(linked=False, problem="link-code-wrong", attempts_left=left)
        self.tokens[CHANNEL_ACCOUNT_PREFIX + account] = buyer_id
        return LinkAttempt(linked=True, buyer_name=buyer_id.title())

    def unlink_account(self, account: str) -> None:
        self.tokens.pop(CHANNEL_ACCOUNT_PREFIX + account, None)

    def add_evidence(self, buyer: str, dispute_id: str, file: EvidenceFile, *, description: str,
                     idempotency_key: str) -> None:  # fmt: skip
        self._buyer(buyer, "add_evidence")
        self.evidence.append((dispute_id, description, file))


def channel_tracker(
    slots: dict[str, Any] | None = None,
    *,
    text: str = "hi",
    channel: str = "telegram",
    metadata: dict[str, Any] | None = None,
    requested_slot: str | None = None,
) -> Tracker:
    tracker = make_tracker(slots, text=text, token=None, requested_slot=requested_slot,
                           active_loop="link_account_form" if requested_slot else None)  # fmt: skip
    tracker.sender_id = "4242"
    tracker.events[-1]["input_channel"] = channel
    tracker.latest_message["metadata"] = metadata or {}
    return tracker


def dispute(dispute_id: str, order_id: str = "8123456789012345") -> Dispute:
    return Dispute(id=dispute_id, order_id=order_id, reason="damaged", state="negotiation",
                   status_label="Dispute in progress", version=1, refund_amount=Decimal("40"),
                   currency="USD", with_return=False)  # fmt: skip


# --- who the buyer is ----------------------------------------------------------------------


def test_a_telegram_conversation_is_known_by_its_channel_account() -> None:
    credential = buyer_credential(channel_tracker())
    assert credential == CHANNEL_ACCOUNT_PREFIX + ACCOUNT
    assert credential_headers(credential) == {"X-Channel-Account": ACCOUNT}
    assert buyer_credential(channel_tracker(channel="facebook")) == (
        CHANNEL_ACCOUNT_PREFIX + "facebook:4242"
    )
    assert buyer_credential(channel_tracker(channel="rest")) is None
    assert credential_headers("token-alice") == {"X-Buyer-Token": "token-alice"}


def test_the_chat_token_still_wins() -> None:
    tracker = make_tracker(token="token-alice")
    tracker.events[-1]["input_channel"] = "telegram"
    assert buyer_credential(tracker) == "token-alice"


async def test_an_unlinked_chat_is_asked_to_link_and_sees_no_order_data() -> None:
    backend = FakeChannelBackend()
    backend.add_order("alice", make_order())
    dispatcher = CollectingDispatcher()
    await ActionCheckDisputeStatus(backend).run(dispatcher, channel_tracker(), {})
    assert responses(dispatcher) == ["utter_link_account_needed"]
    assert issubclass(ChannelAccountNotLinked, BuyerNotIdentified)


# --- linking -------------------------------------------------------------------------------


def validate_email(backend: FakeChannelBackend, email: str,
                   dispatcher: CollectingDispatcher) -> dict[str, Any]:  # fmt: skip
    form = ValidateLinkAccountForm(backend)
    return form.validate_link_email(email, dispatcher, channel_tracker(), {})


def validate_code(backend: FakeChannelBackend, code: str,
                  dispatcher: CollectingDispatcher) -> dict[str, Any]:  # fmt: skip
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
    assert backend.tokens[CHANNEL_ACCOUNT_PREFIX + ACCOUNT] == "alice"


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
    backend.tokens[CHANNEL_ACCOUNT_PREFIX + ACCOUNT] = "alice"
    dispatcher = CollectingDispatcher()
    assert await ActionUnlinkAccount(backend).run(dispatcher, channel_tracker(), {}) == []
    assert responses(dispatcher) == ["utter_account_unlinked"]
    assert CHANNEL_ACCOUNT_PREFIX + ACCOUNT not in backend.tokens


# --- evidence ------------------------------------------------------------------------------

PHOTO = {"channel": "telegram", "kind": "photo", "file_id": "F1", "caption": "the crack"}


def linked_backend(*disputes: Dispute) -> FakeChannelBackend:
    backend = FakeChannelBackend()
    backend.tokens[CHANNEL_ACCOUNT_PREFIX + ACCOUNT] = "alice"
    backend.disputes_by_buyer["alice"] = list(disputes)
    return backend


def fetch(attachment: dict[str, Any]) -> EvidenceFile:
    return EvidenceFile(f"{attachment['file_id']}.jpg", b"\xff\xd8\xff", "image/jpeg")


async def test_a_photo_goes_to_the_only_dispute_in_progress() -> None:
    backend = linked_backend(dispute("D-1"))
    dispatcher = CollectingDispatcher()
    action = ActionAttachEvidence(backend, backend, fetch)
    tracker = channel_tracker(metadata={"attachments": [PHOTO]})
    events = await action.run(dispatcher, tracker, {})
    assert [(d, desc, f.filename) for d, desc, f in backend.evidence] == [
        ("D-1", "the crack", "F1.jpg")
    ]
    assert responses(dispatcher) == ["utter_evidence_added"]
    assert SlotSet("pending_evidence", None) in events


async def test_with_several_disputes_it_asks_which_then_attaches() -> None:
    backend = linked_backend(dispute("D-1"), dispute("D-2", "8999999999999999"))
    action = ActionAttachEvidence(backend, backend, fetch)
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, channel_tracker(metadata={"attachments": [PHOTO]}), {})
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
    action = ActionAttachEvidence(backend, backend, fetch)
    await action.run(dispatcher, channel_tracker(metadata={"attachments": [PHOTO]}), {})
    assert responses(dispatcher) == ["utter_link_account_needed"]
