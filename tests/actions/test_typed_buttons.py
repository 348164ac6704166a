"""A button's title typed instead of clicked (extensions/typed_buttons.py), from tables of
what buyers type at each kind of question, near misses included."""

from __future__ import annotations

import pytest
from rasa.shared.core.events import BotUttered, UserUttered

from extensions.typed_buttons import Button, as_click, matching_button, offered_buttons

CANCEL = [Button("Yes, cancel it", "/affirm"), Button("No, keep it", "/deny")]
OPEN = [Button("Yes, open it", "/affirm"), Button("No", "/deny")]
RETURN = [Button("Yes, I'll return it", "/affirm"), Button("No, I'll keep it", "/deny")]
OUTCOME = [
    Button("Full refund", '/inform{"requested_outcome":"full_refund"}'),
    Button("Partial refund", '/inform{"requested_outcome":"partial_refund"}'),
]
GREETING = [
    Button("Open a dispute", "/open_dispute"),
    Button("Check my disputes", "/check_dispute_status"),
    Button("My package hasn't arrived", "/report_not_received"),
    Button("Talk to a person", "/request_human"),
]
ORDERS = [
    Button("Gadget bundle #29 · 0029", '/inform{"order_id":"8500000000000029"}'),
    Button("Gadget bundle #30 · 0030", '/inform{"order_id":"8500000000000030"}'),
    Button("Wireless earbuds · 0011", '/inform{"order_id":"8100000000000011"}'),
]


@pytest.mark.parametrize(
    ("buttons", "typed", "payload"),
    [
        (CANCEL, "Yes, cancel it", "/affirm"),
        (CANCEL, "yes cancel it", "/affirm"),
        (CANCEL, "ok yes cancel it", "/affirm"),
        (CANCEL, "ok then cancel it", "/affirm"),
        (CANCEL, "cancel it please", "/affirm"),
        (CANCEL, "no keep it", "/deny"),
        (CANCEL, "actually no, leave it, i'll wait for the seller", "/deny"),
        (CANCEL, "keep it", "/deny"),
        (OPEN, "yes open it", "/affirm"),
        (OPEN, "ok open it", "/affirm"),
        (OPEN, "yep open it", "/affirm"),
        (OPEN, "nah leave it, i'll talk to the seller first", "/deny"),
        (OUTCOME, "partial", '/inform{"requested_outcome":"partial_refund"}'),
        (OUTCOME, "a full refund please", '/inform{"requested_outcome":"full_refund"}'),
        (ORDERS, "gadget bundle #30", '/inform{"order_id":"8500000000000030"}'),
        (ORDERS, "the earbuds", '/inform{"order_id":"8100000000000011"}'),
        (ORDERS, "bundle 29", '/inform{"order_id":"8500000000000029"}'),
        (RETURN, "no, i'll keep it", "/deny"),
        (GREETING, "open a dispute please", "/open_dispute"),
    ],
)
def test_a_typed_title_or_a_short_paraphrase_is_the_click(
    buttons: list[Button], typed: str, payload: str
) -> None:
    chosen = matching_button(typed, buttons)
    assert chosen is not None and chosen.payload == payload


@pytest.mark.parametrize(
    ("buttons", "typed"),
    [
        (CANCEL, "don't cancel it"),  # a negated positive title is not that button
        (CANCEL, "how do i cancel it?"),  # a question
        (CANCEL, "can you cancel it"),  # a question without its mark
        (CANCEL, "no, cancel it"),  # names both
        (CANCEL, "hmm"),  # names none
        (CANCEL, "/affirm"),  # a payload already
        (RETURN, "no problem, i'll return it"),  # both words: left to the return parser
        (ORDERS, "gadget bundle"),  # two bundles: which one?
        (
            ORDERS,
            "my earbuds are broken, the left one is silent and the right one crackles "
            "all the time since monday",
        ),  # says much more than a title
        (OUTCOME, "refund"),  # a word every title shares
        (GREETING, "cancel the speaker dispute"),  # another action than any button's
        (GREETING, "change my dispute please"),
    ],
)
def test_what_is_not_one_clear_choice_is_left_to_the_nlu(buttons: list[Button], typed: str) -> None:
    assert matching_button(typed, buttons) is None


def test_the_question_answered_is_the_last_bot_message_with_buttons() -> None:
    def bot(text: str, buttons: list[Button]) -> BotUttered:
        data = {"buttons": [{"title": b.title, "payload": b.payload} for b in buttons]}
        return BotUttered(text, data=data)

    events = [
        UserUttered("cancel my dispute"),
        bot("Which?", ORDERS),
        UserUttered("the earbuds"),
        bot("Cancel it?", CANCEL),
        BotUttered("(a note without buttons)"),
    ]
    assert offered_buttons(events) == CANCEL
    assert offered_buttons([*events, UserUttered("yes")]) == []  # answered already


def test_a_click_keeps_what_was_typed_and_what_else_it_said() -> None:
    typed = {
        "text": "the earbuds, they crackle",
        "intent": {"name": "open_dispute"},
        "entities": [{"entity": "dispute_reason", "value": "damaged"}],
    }
    clicked = {
        "text": '/inform{"order_id":"8100000000000011"}',
        "intent": {"name": "inform"},
        "entities": [{"entity": "order_id", "value": "8100000000000011"}],
    }
    merged = as_click(typed, clicked)
    assert merged["text"] == "the earbuds, they crackle"
    assert merged["intent"] == {"name": "inform"}
    assert [e["entity"] for e in merged["entities"]] == ["order_id", "dispute_reason"]


ONE = [Button("Open a not-received dispute", '/open_dispute{"dispute_reason":"not_received"}')]


@pytest.mark.parametrize("typed", ["ok do that", "yes", "yes please", "sure, go ahead", "yeah ok"])
def test_a_plain_yes_to_the_one_thing_offered_is_its_click(typed: str) -> None:
    assert matching_button(typed, ONE) == ONE[0]


@pytest.mark.parametrize(
    "typed",
    ["no", "not yet", "ok thanks", "ok but what about the lamp", "do i have to?", "hmm", "ok"],
)
def test_anything_but_a_plain_yes_to_one_button_is_left_to_the_nlu(typed: str) -> None:
    assert matching_button(typed, ONE) is None
