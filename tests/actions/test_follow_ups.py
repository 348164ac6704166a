"""Short follow-ups ("and the shoes?") after an answer are the same request about another
item; anything that says more is left to the NLU."""

from __future__ import annotations

import pytest
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered

from extensions.follow_ups import as_follow_up, follow_up_item, topic_just_answered


@pytest.mark.parametrize(
    ("text", "item"),
    [
        ("and the shoes?", "the shoes"),
        ("And the usb hub one?", "the usb hub one"),
        ("what about the speaker", "the speaker"),
        ("how about order 8300 0000 0000 0031?", "order 8300 0000 0000 0031"),
        ("and what about my backpack??", "my backpack"),
        ("also the lamp", "the lamp"),
        ("same for the earbuds", "the earbuds"),
        ("and the other one?", "the other one"),
        ("what about #8100000000000012", "#8100000000000012"),
    ],
)
def test_a_short_follow_up_names_its_item(text: str, item: str) -> None:
    assert follow_up_item(text) == item


@pytest.mark.parametrize(
    "text",
    [
        "the shoes?",  # no lead: the NLU (or the fallback's follow-up) decides
        "and cancel it",
        "what about opening a dispute for it?",
        "and when will it arrive?",
        "and how do i contact the seller?",
        "and i want a refund",
        "and thanks!",
        "ok and bye",
        "and?",
        "what about the shoes i ordered from the other shop last month in the sale",
        "android phone case",  # "and" must be a word of its own
        "also can you change the amount",
    ],
)
def test_anything_that_says_more_than_an_item_is_no_follow_up(text: str) -> None:
    assert follow_up_item(text) is None


def test_the_topic_counts_only_when_set_answering_the_previous_message() -> None:
    answered = [
        UserUttered("how are my disputes going?"),
        ActionExecuted("action_check_dispute_status"),
        BotUttered("Your dispute on the speaker is in negotiation."),
        SlotSet("last_topic", "status"),
        ActionExecuted("action_listen"),
    ]
    assert topic_just_answered(answered) == "status"
    later = [*answered, UserUttered("thanks"), ActionExecuted("utter_you_are_welcome")]
    assert topic_just_answered(later) is None
    assert topic_just_answered([]) is None


def test_the_parse_becomes_the_topics_request_and_keeps_its_entities() -> None:
    parsed = {
        "text": "and order 8300000000000031?",
        "intent": {"name": "open_dispute", "confidence": 0.77},
        "intent_ranking": [{"name": "open_dispute", "confidence": 0.77}],
        "entities": [{"entity": "order_id", "value": "8300000000000031"}],
    }
    read = as_follow_up(parsed, "check_dispute_status")
    assert read["intent"] == {"name": "check_dispute_status", "confidence": 1.0}
    assert read["intent_ranking"] == [read["intent"]]
    assert read["entities"] == parsed["entities"] and read["text"] == parsed["text"]


@pytest.mark.parametrize(
    "text",
    [
        "and the bottle opener?",
        "what about the speaker",
        "and the stopwatch",
        "and the address book",
    ],
)
def test_product_names_that_start_like_a_verb_are_items(text: str) -> None:
    assert follow_up_item(text) is not None


@pytest.mark.parametrize(
    "text",
    ["and changing the amount?", "what about closing it", "and modifying it", "also raising it"],
)
def test_every_form_of_a_request_verb_is_a_request(text: str) -> None:
    assert follow_up_item(text) is None
