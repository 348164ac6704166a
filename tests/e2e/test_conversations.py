"""Whole conversations through the REST channel, checking the backend afterwards.

They run against the real Rasa server (the trained model), action server and
backend with its demo data; the buyers are those of `make seed`.
"""

from __future__ import annotations

import uuid

import pytest
import requests

from tests.e2e.conftest import Conversation, RunningStack

EARBUDS = "8100000000000011"  # alice, delivered, protection open
PHONE_CASE = "8100000000000012"  # alice, in transit
DESK_LAMP = "8100000000000013"  # alice, no tracking yet


def talk(stack: RunningStack, buyer: str | None) -> Conversation:
    return Conversation(stack, buyer, f"e2e-{uuid.uuid4().hex[:10]}")


def test_open_modify_check_and_cancel_a_dispute(stack: RunningStack) -> None:
    chat = talk(stack, "alice")
    assert "dispute" in chat.say("hi").lower()

    answer = chat.say("I want to open a dispute")
    assert "Which order" in answer
    assert f'/inform{{"order_id":"{EARBUDS}"}}' in chat.buttons()
    assert "covered by buyer protection" in chat.say(f"order {PHONE_CASE}")
    assert "Which order" in chat.say("sorry, wrong order")  # a correction
    assert "covered by buyer protection" in chat.say(f"order {EARBUDS}")
    assert "full refund or a partial refund" in chat.say("it arrived broken")
    assert "How much" in chat.say("partial refund please")
    assert "paid in EUR" in chat.say("15 dollars")  # the order's currency is EUR
    assert "send the item back" in chat.say("15 euros")
    assert "describe the problem" in chat.say("no").lower()
    summary = chat.say("The left earbud does not charge at all, the case light stays off.")
    assert "15.00 EUR" in summary and "Shall I open it" in summary
    assert "The left earbud does not charge at all" in summary  # the buyer's own words
    opened = chat.say("yes")
    assert "is open for order" in opened

    disputes = stack.buyer_get(chat.token or "", f"/disputes?order_id={EARBUDS}")
    assert len(disputes) == 1
    dispute = disputes[0]
    assert dispute["status_label"] == "Dispute in progress"
    assert dispute["reason"] == "damaged"
    assert dispute["proposals"]["buyer"]["refund_amount"] == "15.00"
    assert dispute["id"] in opened

    # R4: change the proposal to a full refund with return.
    # The one dispute in progress is the one meant: no "Which dispute?".
    changing = chat.say("I want to change my dispute")
    assert EARBUDS in changing and "full refund or a partial refund" in changing
    chat.say("full refund")
    # Typed, not clicked: the return choice is read from the words.
    assert "Change your proposal" in chat.say("ok I will send them back to the seller")
    assert "now a refund of 49.90 EUR" in chat.say("yes")
    dispute = stack.buyer_get(chat.token or "", f"/disputes/{dispute['id']}")
    assert dispute["proposals"]["buyer"]["refund_amount"] == "49.90"
    assert dispute["proposals"]["buyer"]["with_return"] is True

    # R7: status.
    status = chat.say(f"what's the status of my dispute on {EARBUDS}")
    assert dispute["id"] in status and "in progress" in status
    assert "seller hasn't answered" in status  # where it stands, not only its label

    # R6: cancel, with the consequence explained first.
    explained = chat.say("cancel my dispute")
    assert EARBUDS in explained
    assert "payment stays with us until the protection period ends" in explained
    assert "is cancelled" in chat.say("yes")
    dispute = stack.buyer_get(chat.token or "", f"/disputes/{dispute['id']}")
    assert dispute["status_label"] == "Dispute ended"
    order = stack.buyer_get(chat.token or "", f"/orders/{EARBUDS}")
    assert order["payment_status"] == "held"  # not released at once (R6)


def test_an_order_without_tracking_is_not_eligible_and_nothing_is_opened(
    stack: RunningStack,
) -> None:
    chat = talk(stack, "alice")
    chat.say("open a dispute")
    assert "doesn't have a tracking number yet" in chat.say(DESK_LAMP)
    assert stack.buyer_get(chat.token or "", f"/disputes?order_id={DESK_LAMP}") == []


def test_expired_protection_offers_every_option(stack: RunningStack) -> None:
    chat = talk(stack, "bruno")
    chat.say("I need to open a dispute")
    answer = chat.say("8200000000000022")
    assert "protection period" in answer and "ended" in answer
    options = chat.say("/expired_period_help")
    assert "+34 93 437 58 79" in options and "seller" in options
    assert "/request_human" in chat.buttons()


def test_a_package_in_customs_goes_to_the_carrier(stack: RunningStack) -> None:
    chat = talk(stack, "bruno")
    chat.say("my package is stuck in customs")
    assert "held in customs" in chat.say("8200000000000021")
    assert "carrier" in chat.replies[0]["text"]


def test_status_of_all_disputes_shows_progress_and_mediation(stack: RunningStack) -> None:
    chat = talk(stack, "carla")
    answer = chat.say("how are my disputes going?")
    assert "Dispute in progress" in answer
    assert "mediation" in answer


def test_a_refund_problem_asks_for_evidence_and_offers_a_person(stack: RunningStack) -> None:
    chat = talk(stack, "diego")
    answer = chat.say("the dispute ended but i never got my refund")
    assert "Dispute ended" in answer and "evidence" in answer
    assert "/request_human" in chat.buttons()


def test_an_account_under_review_is_told_politely(stack: RunningStack) -> None:
    chat = talk(stack, "erin")
    chat.say("open a dispute please")
    order = next(b for b in chat.buttons() if "order_id" in b)
    answer = chat.say(order)
    assert "being reviewed by our team" in answer
    assert "closed" in answer  # "nothing is closed"


def test_without_a_chat_token_no_order_data_is_shown(stack: RunningStack) -> None:
    chat = talk(stack, None)
    answer = chat.say("check my disputes")
    assert "sign in" in answer.lower()
    assert "8100" not in answer


def test_a_forged_chat_token_is_refused(stack: RunningStack) -> None:
    chat = talk(stack, "alice")
    chat.token = (chat.token or "") + "x"
    assert "sign in" in chat.say("show my disputes").lower()


def test_not_understood_twice_offers_a_person(stack: RunningStack) -> None:
    chat = talk(stack, "alice")
    # Gibberish is either not understood ("rephrase") or read as out of
    # scope; both answers say what the bot can do, and both count as a miss.
    first = chat.say("blorf snargle wibble").lower()
    assert "rephrase" in first or "not something i can help with" in first
    assert "talk to a person" not in first
    second = chat.say("zzzq qqq vvvx")
    assert "talk to a person" in second.lower()


@pytest.mark.parametrize(
    ("answer", "order_id"), [("yes", "8900000000000011"), ("no", "8900000000000012")]
)
def test_a_typed_answer_to_the_offer_of_a_person_inside_the_form(
    stack: RunningStack, answer: str, order_id: str
) -> None:
    """At "Shall I open it?", not understood twice: a person is offered, and the
    typed "yes" or "no" answers that offer, not the form's question."""
    stack.add_order(order_id, "alice", title="Camping lantern")
    chat = talk(stack, "alice")
    chat.say("I want to open a dispute")
    chat.say(order_id)
    chat.say("it's broken")
    chat.say("full refund")
    chat.say("no")
    assert "Shall I open it" in chat.say("The lantern does not switch on at all.")
    # A hesitation is neither yes nor no: the form asks again, with no menu.
    first = chat.say("hmm")
    assert "finish this first" in first and "Shall I open it" in first
    assert "not something I can help with" not in first
    assert "talk to a person" in chat.say("zzzq qqq vvvx").lower()
    reply = chat.say(answer)
    if answer == "yes":
        assert "person" in reply.lower() or "operator" in reply.lower(), reply
        ticket = stack.ticket_of(chat.sender)
        assert ticket["reason"] == "not_understood"
        # Out of the queue again, so the handoff tests find it as they expect.
        stack.operator_api("post", f"/handoff/tickets/{ticket['id']}/close")
    else:
        assert "carry on" in reply and "Shall I open it" in reply
        assert "other words" not in reply  # one answer to the "no", not two
    # Either way nothing was opened by that answer.
    assert stack.buyer_get(chat.token or "", f"/disputes?order_id={order_id}") == []


def test_the_product_named_instead_of_the_order_number_picks_the_order(
    stack: RunningStack,
) -> None:
    stack.add_order("8900000000000013", "alice", title="Travel kettle")
    chat = talk(stack, "alice")
    answer = chat.say("the kettle I got leaks from the bottom, I want my money back")
    assert "Order 8900000000000013 is covered by buyer protection" in answer
    # and at "Which order?", the product's name is an answer too
    chat = talk(stack, "alice")
    assert "Which order" in chat.say("I want to open a dispute")
    assert "Order 8900000000000013 is covered" in chat.say("the travel kettle")


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("how long do i have to open a dispute?", "15 days"),
        ("is there a limit on disputes? will i get banned", "no limit"),
        ("what does dispute ended mean", "closed"),
        ("how do disputes work", "5 days"),
    ],
)
def test_faq_answers(stack: RunningStack, question: str, expected: str) -> None:
    assert expected in talk(stack, "alice").say(question)


def test_a_question_inside_the_form_is_answered_and_the_form_resumes(
    stack: RunningStack,
) -> None:
    chat = talk(stack, "alice")
    chat.say("i want a refund for a broken item")
    answer = chat.say("wait, how long do I have to open a dispute?")
    assert "15 days" in answer
    assert "Which order" in answer  # the form asks its question again


def test_stop_leaves_the_form_cleanly(stack: RunningStack) -> None:
    chat = talk(stack, "alice")
    chat.say("open a dispute")
    assert "stopped" in chat.say("forget it")
    assert "Hi!" in chat.say("hello")


def test_backend_down_gets_an_apology_and_a_person(stack: RunningStack) -> None:
    chat = talk(stack, "alice")
    stack.stack.stop_service("backend")
    try:
        answer = chat.say("show me my disputes")
        assert "can't reach our dispute system" in answer
        assert "/request_human" in chat.buttons()
    finally:
        stack.stack.start_service("backend")
    assert "can't reach" not in chat.say("show me my disputes")


def test_cancel_in_the_middle_of_opening_a_dispute_stops_the_form(stack: RunningStack) -> None:
    stack.add_order("8900000000000014", "alice", title="Reading lamp")
    chat = talk(stack, "alice")
    chat.say("I want to open a dispute")
    chat.say("8900000000000014")
    assert "full refund or a partial refund" in chat.say("it's broken")
    # Not read as the answer to "full or partial?": the form stops.
    assert "stopped" in chat.say("cancel")
    assert stack.buyer_get(chat.token or "", "/disputes?order_id=8900000000000014") == []


def executed_actions(stack: RunningStack, sender: str) -> list[str]:
    tracker = requests.get(
        f"{stack.rasa_url}/conversations/{sender}/tracker",
        params={"token": stack.env["RASA_API_TOKEN"]},
        timeout=10,
    )
    tracker.raise_for_status()
    return [e["name"] for e in tracker.json()["events"] if e.get("event") == "action"]


def test_a_follow_up_is_answered_once_and_the_turn_ends(stack: RunningStack) -> None:
    chat = talk(stack, "carla")
    chat.say("how are my disputes going?")
    # Not an intent of its own: understood from the answer before it.
    answer = chat.say("what about the speaker one")
    assert "D-10001" in answer and "Bluetooth speaker" in answer
    assert len(chat.replies) == 1  # once, not again and again until Rasa stops it
    actions = executed_actions(stack, chat.sender)
    assert actions.count("action_check_dispute_status") == 2
    assert actions[-1] == "action_listen"
    assert "Your disputes" in chat.say("how are my disputes going?")  # the chat goes on


def test_a_typed_yes_to_the_offer_of_a_person_queues_the_buyer_once(
    stack: RunningStack,
) -> None:
    chat = talk(stack, "erin")
    chat.say("blorp zzk quantum")
    offer = chat.say("flibber wug snark")
    assert "talk to a person" in offer.lower()
    answer = chat.say("yes")
    assert "queue" in answer or "No one from our team" in answer
    assert executed_actions(stack, chat.sender).count("action_request_handoff") == 1
    stack.operator_api("post", f"/handoff/tickets/{stack.ticket_of(chat.sender)['id']}/close")
