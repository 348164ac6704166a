"""What buyers type, read into values (actions/parsing.py): tables of real phrasings and
their near misses."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from actions.parsing import (
    about_the_carrier,
    amount_stated,
    asks_for_contact_details,
    asks_for_money,
    is_correction,
    is_stalling,
    names_another_order,
    normalise_order_id,
    only_confirms,
    order_named_alone,
    order_named_instead,
    orders_named,
    outcome_from_text,
    parse_amount,
    reason_from_text,
    return_choice_from_text,
)
from tests.actions.fake_backend import make_order

# Digits of another width or script, as a phone keyboard may type them: the same number.
FULLWIDTH = "".join(chr(0xFF10 + int(d)) for d in "8123456789012345")


# Each reader of free text, with real phrasings and their near misses: the value it reads.
VALUES: dict[Callable[[Any], object], list[tuple[object, object]]] = {
    parse_amount: [
        ("12.5", Decimal("12.50")),
        ("$12", Decimal("12.00")),
        ("12,50", Decimal("12.50")),
        ("abc", None),
        ("1.2.3", None),
        (None, None),
        ("15 dollars", Decimal("15.00")),
        ("10 euros, yes 10", Decimal("10.00")),
        ("1000", Decimal("1000.00")),
        # amounts in words, alone or with a currency; other words make them no amount
        ("twenty euros", Decimal("20.00")),
        ("about twenty five please", Decimal("25.00")),
        ("twenty-five bucks", Decimal("25.00")),
        ("a hundred", Decimal("100.00")),
        ("one hundred and twenty euros", Decimal("120.00")),
        ("the other one", None),
        ("in two weeks", None),
        ("five six", None),
        ("somewhere between 5 and 8", None),
        ("3 or 4 euros", None),
        ("-5 euros", Decimal("-5.00")),
        ("minus 5", Decimal("-5.00")),
        ("0", Decimal("0.00")),
        ("well 25-ish", Decimal("25.00")),
    ],
    normalise_order_id: [
        ("8123 4567 8901 2345", "8123456789012345"),
        ("#8123456789012345", "8123456789012345"),
        ("812345", None),
        (FULLWIDTH, "8123456789012345"),
        ("\u0668" * 16, "8" * 16),
        ("8" * 38, None),
        (None, None),
    ],
    reason_from_text: [
        ("it arrived cracked", "damaged"),
        ("this is a fake", "counterfeit"),
        ("theyre fake. the logo on the box is misspelled", "counterfeit"),
        ("not the original brand", "counterfeit"),
        ("the charger is missing", "missing_parts"),
        ("they sent the wrong colour", "wrong_item"),
        ("i ordered earbuds and got a pink phone holder", "wrong_item"),
        ("it never arrived", "not_received"),
        ("i still haven't received it", "not_received"),
        ("looks nothing like the photo", "not_as_described"),
        ("it won't charge", "damaged"),
        ("doesn't turn on", "damaged"),
        ("the left bud is silent", "damaged"),
        ("my earbuds died after 2 weeks", "damaged"),
        ("the left one stopped charging", "damaged"),
        ("my headphones won't pair anymore", "damaged"),
        ("the bowl came chipped", "damaged"),
        ("it keeps overheating", "damaged"),
        ("the seller stopped answering", None),
        ("the tracking stopped updating", None),
        # near misses: words inside other words, and words about something else
        ("i was charged twice", None),
        ("it came in a small box", None),
        ("hmm", None),
        ("my partner said so", None),
    ],
    outcome_from_text: [
        ("partial", "partial_refund"),
        ("a partial refund please", "partial_refund"),
        ("half of it back", "partial_refund"),
        ("full", "full_refund"),
        ("all my money back", "full_refund"),
        ("the whole amount", "full_refund"),
        ("100% refund", "full_refund"),
        ("i want part of my money back", "partial_refund"),
        # near misses: "all" in "small"/"call", "100" in "1000", "keep" is about the return
        ("it is small", None),
        ("please call me", None),
        ("i paid 1000 for it", None),
        ("i'll keep it", None),
        ("hmm", None),
    ],
    amount_stated: [
        ("actually make it 20 euros", Decimal("20.00")),
        ("wait, 12 not 15", Decimal("12.00")),
        ("not 15 but 12", Decimal("12.00")),
        ("12 instead of 15", Decimal("12.00")),
        ("between 5 and 8", None),
        ("make it -5", Decimal("-5.00")),
        ("no amount here", None),
        ("ok make it fifteen euros", Decimal("15.00")),
        ("it took two weeks and i want 20 euros back", Decimal("20.00")),
        ("the other one", None),
        # a number that counts days, items, sizes or models is no amount
        ("the usb hub stopped working after 3 days, i want a full refund", None),
        ("died again after 2 weeks, i want my money back", None),
        ("it came 2wks late, give me 10", Decimal("10.00")),
        ("2 of them broke, refund 8 euros", Decimal("8.00")),
        ("size 42 came instead of 44, refund 10", Decimal("10.00")),
        ("my iphone 13 case cracked, 5 euros back", Decimal("5.00")),
        ("i want 50% back", None),
        ("the 2nd one broke, 12 euros", Decimal("12.00")),
        ("no 20 euros", Decimal("20.00")),
    ],
}

# The readers that answer yes (True), no (False) or, for some, cannot tell (None): compared
# with `is`, so that an answer of 1 or 0 is not taken for a yes or a no.
YES_OR_NO: dict[Callable[[str], bool | None], list[tuple[str, bool | None]]] = {
    return_choice_from_text: [
        ("yes, i'll return them", True),
        ("I can send it back", True),
        ("ok, shipping it back", True),
        ("I don't want to keep it", True),
        ("i'll keep it", False),
        ("no return please", False),
        ("no, I keep them", False),
        ("i prefer not to return it", False),
        ("I won't send anything back", False),
        ("no need to post it back", False),
        ("no problem, I'll return it", True),
        ("i don't mind sending them back", True),
        ("not a problem, i can ship it", True),
        ("no, i don't mind keeping it", False),
        ("15 euros", None),
        ("hmm", None),
        ("the right earbud keeps buzzing", None),
        ("keeping them is fine", False),
    ],
    asks_for_money: [
        ("a partial refund of 10 euros", True),
        ("i want 20 back", True),
        ("i paid 9.99 euros and it broke", False),
        ("my sister got 3 euros", False),
    ],
    names_another_order: [
        ("no, the other order", True),
        ("wrong order", True),
        ("the wrong item was sent", False),
    ],
    is_correction: [
        ("actually make it 20 euros", True),
        ("wait, 12 not 15", True),
        ("oh sorry i meant partial, not full", True),
        ("no wait, i want to keep them", True),
        ("i changed my mind, full refund", True),
        ("the earbuds crackle", False),
        ("yes open it", False),
        ("15", False),
    ],
    is_stalling: [
        ("hold on, let me check", True),
        ("hang on", True),
        ("wait a sec please", True),
        ("let me check the box first", True),
        ("hmm let me think", True),
        ("brb", True),
        ("hold on, the screen flickers too", False),
        ("wait, the case is cracked", False),
        ("i need to check something, the lamp is broken", False),
        ("the left bud is dead", False),
    ],
    only_confirms: [
        ("yes that's right, open it", True),
        ("ok go ahead and open it", True),
        ("yep open it please", True),
        ("correct", True),
        ("yes it is broken", False),
        ("yes the case is cracked", False),
        ("right earbud dead", False),
        ("ok so the hinge snapped", False),
    ],
    about_the_carrier: [
        ("how do i contact the carrier then?", True),
        ("who is the courier", True),
        ("can i call the delivery company", True),
        ("is it with dhl?", True),
        # near misses: the seller, and words that contain a carrier's name
        ("how do i contact the seller", False),
        ("the upside down logo", False),
        ("my groups chat", False),
    ],
    asks_for_contact_details: [
        ("whats the phone number of customer service", True),
        ("do you have an email address?", True),
        ("can i message you on twitter", True),
        ("what number do i call", True),
        ("i want a person to call me back", True),
        ("i want to talk to a person", False),
        ("agent please", False),
        ("my phone case never arrived", False),  # a product, not a phone line
        ("the seller's phone number", True),
        ("can i phone the marketplace", True),
        ("the phone holder is broken", False),
    ],
}


def cases_of(table: dict[Any, list[tuple[Any, Any]]]) -> list[Any]:
    return [
        pytest.param(reader, text, expected, id=f"{reader.__name__}: {text}")
        for reader, cases in table.items()
        for text, expected in cases
    ]


@pytest.mark.parametrize(("reader", "text", "expected"), cases_of(VALUES))
def test_a_value_is_read_from_what_buyers_type(
    reader: Callable[[Any], object], text: object, expected: object
) -> None:
    assert reader(text) == expected


@pytest.mark.parametrize(("reader", "text", "expected"), cases_of(YES_OR_NO))
def test_a_yes_or_no_is_read_from_what_buyers_type(
    reader: Callable[[str], bool | None], text: str, expected: bool | None
) -> None:
    assert reader(text) is expected


ORDERS = [
    make_order("8100000000000011", title="Wireless earbuds"),
    make_order("8100000000000012", title="Phone case for iPhone"),
    make_order("8300000000000032", title="Running shoes"),
    make_order("8500000000000029", title="Gadget bundle #29"),
    make_order("8500000000000030", title="Gadget bundle #30"),
]


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("my earbuds broke", ["8100000000000011"]),
        ("the phone case", ["8100000000000012"]),
        ("gadget bundle #30 broke", ["8500000000000030"]),
        ("my gadget bundle", ["8500000000000029", "8500000000000030"]),
        ("the order", []),
    ],
)
def test_orders_named(text: str, named: list[str]) -> None:
    assert orders_named(ORDERS, text) == named


@pytest.mark.parametrize(
    ("text", "order_id"),
    [
        ("my running shoes are falling apart", "8300000000000032"),
        ("pls cancle my dispite for the runing shoes", "8300000000000032"),
        ("my earbud broke", "8100000000000011"),
        ("the erabuds", "8100000000000011"),
        ("my earbuds came with a cracked case", "8100000000000011"),
        ("the charging case is missing from my earbuds package", "8100000000000011"),
        ("the case of the earbuds is cracked", None),
        ("i'm running out of time", None),
        ("gadget bundle #30 broke, can i open a dispute?", "8500000000000030"),
        ("my gadget bundle broke", None),
    ],
)
def test_one_order_named_alone(text: str, order_id: str | None) -> None:
    assert order_named_alone(ORDERS, text) == order_id


@pytest.mark.parametrize(
    ("text", "order_id"),
    [
        ("no wait, the shoes one, not the earbuds", "8300000000000032"),
        ("no sorry, i meant the earbuds", "8100000000000011"),
        ("not the earbuds but the running shoes", "8300000000000032"),
        ("the shoes instead of the phone case", "8300000000000032"),
        # a problem told names a part of the item, not another order
        ("actually the case is cracked", None),
        ("no, that's right", None),
    ],
)
def test_the_order_a_correction_names(text: str, order_id: str | None) -> None:
    assert order_named_instead(ORDERS, text) == order_id
