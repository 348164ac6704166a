"""Linking a Telegram or Messenger chat, answer by answer: what the user reads after each
e-mail or code they type, what the form keeps, and unlinking.

test_accounts.py walks the happy paths; these pin each refusal and its wording.
"""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.accounts import ActionLinkAccount, ActionUnlinkAccount, ValidateLinkAccountForm
from actions.backend_client import BackendUnavailable, Credential, LinkAttempt
from tests.actions.conftest import make_tracker
from tests.actions.fake_backend import InMemoryChannelBackend
from tests.actions.test_accounts import channel_tracker

ACCOUNT = "telegram:4242"


class DownChannelBackend(InMemoryChannelBackend):
    """Every channel call fails as an outage does."""

    def request_link_code(self, account: Credential, email: str) -> None:
        raise BackendUnavailable("backend down", status=503)

    def link_account(self, account: Credential, code: str) -> LinkAttempt:
        raise BackendUnavailable("backend down", status=503)

    def unlink_account(self, account: Credential) -> None:
        raise BackendUnavailable("backend down", status=503)


class NamelessChannelBackend(InMemoryChannelBackend):
    def link_account(self, account: Credential, code: str) -> LinkAttempt:
        return LinkAttempt(linked=True, buyer_name=None)


def said(dispatcher: CollectingDispatcher) -> list[dict[str, Any]]:
    keep = ("response", "email", "name", "attempts_left")
    return [{k: m[k] for k in keep if m.get(k) is not None} for m in dispatcher.messages]


def email(value: Any, backend: InMemoryChannelBackend | None = None, **kw: Any) -> Any:
    dispatcher = CollectingDispatcher()
    form = ValidateLinkAccountForm(backend or InMemoryChannelBackend())
    tracker = kw.pop("tracker", None) or channel_tracker(requested_slot="link_email")
    return form.validate_link_email(value, dispatcher, tracker, {}), said(dispatcher)


def code(value: Any, backend: InMemoryChannelBackend | None = None, **kw: Any) -> Any:
    dispatcher = CollectingDispatcher()
    form = ValidateLinkAccountForm(backend or InMemoryChannelBackend())
    tracker = kw.pop("tracker", None) or channel_tracker(requested_slot="link_code")
    return form.validate_link_code(value, dispatcher, tracker, {}), said(dispatcher)


def asked_for_code(backend: InMemoryChannelBackend) -> InMemoryChannelBackend:
    email("alice@example.com", backend)
    return backend


def test_the_actions_have_their_domain_names() -> None:
    assert ValidateLinkAccountForm().name() == "validate_link_account_form"
    assert ActionLinkAccount().name() == "action_link_account"
    assert ActionUnlinkAccount().name() == "action_unlink_account"


@pytest.mark.parametrize(
    ("link_code", "asks"),
    [
        (None, True),
        ("linked", False),
        ("stopped", False),
        ("not_needed", False),
    ],
)
async def test_the_form_stops_asking_once_linking_is_settled(
    link_code: str | None, asks: bool
) -> None:
    slots = await ValidateLinkAccountForm().required_slots(
        ["link_email", "link_code"],
        CollectingDispatcher(),
        channel_tracker({"link_code": link_code}),
        {},
    )
    assert slots == (["link_email", "link_code"] if asks else [])


def test_an_email_in_a_sentence_is_read_in_lower_case_and_a_code_is_sent() -> None:
    backend = InMemoryChannelBackend()
    slots, messages = email("sure, it's Alice@Example.COM thanks", backend)
    assert slots == {"link_email": "alice@example.com"}
    assert messages == [{"response": "utter_link_code_sent", "email": "alice@example.com"}]
    assert backend.codes[ACCOUNT] == ("alice", "654321")


@pytest.mark.parametrize("value", [None, "", "alice at example dot com", "alice@example"])
def test_something_that_is_not_an_email_is_asked_again(value: Any) -> None:
    assert email(value) == ({"link_email": None}, [{"response": "utter_link_email_invalid"}])


def test_too_many_codes_asked_for_stops_the_form_keeping_the_email() -> None:
    backend = InMemoryChannelBackend()
    backend.rate_limited = True
    assert email("alice@example.com", backend) == (
        {"link_email": "alice@example.com", "link_code": "stopped"},
        [{"response": "utter_link_code_rate_limited"}],
    )


def test_an_outage_while_sending_the_code_stops_the_form_with_an_apology() -> None:
    assert email("alice@example.com", DownChannelBackend()) == (
        {"link_email": "alice@example.com", "link_code": "stopped"},
        [{"response": "utter_backend_unavailable"}],
    )


def test_a_chat_already_signed_in_on_the_web_needs_no_linking() -> None:
    web = make_tracker(requested_slot="link_email")
    assert email("alice@example.com", tracker=web) == (
        {"link_email": "-", "link_code": "not_needed"},
        [{"response": "utter_link_not_needed"}],
    )
    assert code("654321", tracker=web) == (
        {"link_code": "not_needed"},
        [{"response": "utter_link_not_needed"}],
    )


@pytest.mark.parametrize("settled", ["linked", "stopped", "not_needed"])
def test_a_settled_code_slot_is_kept_silently(settled: str) -> None:
    assert code(settled) == ({"link_code": settled}, [])


@pytest.mark.parametrize("value", [None, "12345", "1234567", "code please"])
def test_anything_but_six_digits_is_asked_again_with_the_format(value: Any) -> None:
    assert code(value) == ({"link_code": None}, [{"response": "utter_link_code_format"}])


def test_the_right_code_in_a_sentence_links_and_greets_by_name() -> None:
    backend = asked_for_code(InMemoryChannelBackend())
    assert code("my code is 654321.", backend) == (
        {"link_code": "linked"},
        [{"response": "utter_account_linked", "name": "Alice"}],
    )
    assert backend.tokens[f"channel:{ACCOUNT}"] == "alice"


def test_a_buyer_with_no_name_is_greeted_as_there() -> None:
    assert code("654321", NamelessChannelBackend()) == (
        {"link_code": "linked"},
        [{"response": "utter_account_linked", "name": "there"}],
    )


def test_a_wrong_code_says_how_many_tries_are_left() -> None:
    backend = asked_for_code(InMemoryChannelBackend())
    assert code("111111", backend) == (
        {"link_code": None},
        [{"response": "utter_link_code_wrong", "attempts_left": 4}],
    )


def test_the_last_wrong_code_ends_the_form_as_expired() -> None:
    backend = asked_for_code(InMemoryChannelBackend())
    for _ in range(4):
        code("111111", backend)
    assert code("111111", backend) == (
        {"link_code": "stopped"},
        [{"response": "utter_link_code_expired"}],
    )


def test_an_outage_while_checking_the_code_stops_the_form() -> None:
    assert code("654321", DownChannelBackend()) == (
        {"link_code": "stopped"},
        [{"response": "utter_backend_unavailable"}],
    )


async def test_the_submit_step_forgets_the_email_and_the_code() -> None:
    events = await ActionLinkAccount().run(CollectingDispatcher(), channel_tracker(), {})
    assert events == [SlotSet("link_email", None), SlotSet("link_code", None)]


async def test_unlinking_forgets_the_chat_and_says_so() -> None:
    backend = asked_for_code(InMemoryChannelBackend())
    code("654321", backend)
    dispatcher = CollectingDispatcher()
    assert await ActionUnlinkAccount(backend).run(dispatcher, channel_tracker(), {}) == []
    assert said(dispatcher) == [{"response": "utter_account_unlinked"}]
    assert f"channel:{ACCOUNT}" not in backend.tokens


async def test_unlinking_from_the_web_chat_is_not_needed() -> None:
    dispatcher = CollectingDispatcher()
    assert (
        await ActionUnlinkAccount(InMemoryChannelBackend()).run(dispatcher, make_tracker(), {})
        == []
    )
    assert said(dispatcher) == [{"response": "utter_link_not_needed"}]


async def test_an_outage_while_unlinking_apologises() -> None:
    dispatcher = CollectingDispatcher()
    assert (
        await ActionUnlinkAccount(DownChannelBackend()).run(dispatcher, channel_tracker(), {}) == []
    )
    assert said(dispatcher) == [{"response": "utter_backend_unavailable"}]
