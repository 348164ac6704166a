"""A long conversation keeps working to its end: the buyer asks question after question with
the dispute form open, and the form still finishes with what was said at the start.

Rasa sent the whole session to the action server with every call; at about 57 messages the
request passed the action server's size limit and the bot went silent
(extensions/action_calls.py). The history work that grew with each message is continued
from turn to turn (extensions/tracker_history.py, extensions/tracker_store.py)."""

from __future__ import annotations

import itertools
import uuid

from tests.e2e.conftest import Conversation, RunningStack

EARBUDS = "8100000000000011"  # alice, delivered, protection open
QUESTIONS = [
    ("how long do I have to open a dispute?", "15 days"),
    ("is there a limit on disputes?", "no limit"),
    ("how do I contact the seller?", "chat on the order page"),
    ("are you a bot?", "virtual assistant"),
    ("what happens if I cancel a dispute?", "protection period ends"),
]
ASKED_AGAIN = "full refund or a partial refund"


def test_eighty_messages_with_the_form_open_and_the_form_still_finishes(
    stack: RunningStack,
) -> None:
    chat = Conversation(stack, "alice", f"e2e-long-{uuid.uuid4().hex[:8]}")
    assert "Which order" in chat.say("I want to open a dispute")
    assert "covered by buyer protection" in chat.say(EARBUDS)
    assert ASKED_AGAIN in chat.say("it arrived broken")
    for number, (question, answer) in zip(range(4, 76), itertools.cycle(QUESTIONS)):
        reply = chat.say(question)
        assert answer in reply, f"message {number}: {question!r} -> {reply!r}"
        assert ASKED_AGAIN in reply, f"message {number}: the form did not ask again"
    assert "How much" in chat.say("partial refund please")
    assert "send the item back" in chat.say("15 euros")
    assert "describe the problem" in chat.say("no").lower()
    summary = chat.say("The left earbud does not charge at all.")
    # What was said at messages 2 and 3, 70 messages back, is still there.
    assert EARBUDS in summary
    assert "damaged" in summary
    assert "15.00 EUR" in summary
    assert "haven't opened anything" in chat.say("no")

    events = stack.tracker_events(chat.sender)
    said = [event["text"] for event in events if event["event"] == "user"]
    assert len(said) == 80  # the store keeps every message, whatever the action server saw
    assert said[1] == EARBUDS
