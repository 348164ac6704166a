"""Typos read as the words meant (extensions/spelling.py), near misses left alone."""

from __future__ import annotations

import pytest

from extensions.spelling import Speller, edit_distance

VOCABULARY = {
    w: 5
    for w in (
        "cancel",
        "dispute",
        "speaker",
        "backpack",
        "arrived",
        "refund",
        "change",
        "going",
        "how",
        "never",
        "package",
        "received",
        "where",
        "phone",
        "case",
        "card",
        "cart",
    )
}


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        ("cancle", "cancel", 1),
        ("dispte", "dispute", 1),
        ("speeker", "speaker", 1),
        ("bakpack", "backpack", 1),
        ("chnage", "change", 1),
        ("abc", "abc", 0),
        ("kitten", "sitting", 3),
    ],
)
def test_edit_distance(a: str, b: str, distance: int) -> None:
    assert edit_distance(a, b, limit=3) == distance


@pytest.mark.parametrize(
    ("typed", "spelled"),
    [
        ("pls cancle my dispite for the speeker", "pls cancel my dispute for the speaker"),
        ("my bakpack never arived", "my backpack never arrived"),
        ("i wanna chnage my refnd", "i wanna change my refund"),
        # left alone: known words, short words, words far from any, and a tie (card / cart)
        ("hows my case going", "how my case going"),
        ("carx", "carx"),
        ("start the timer", "start the timer"),
        ("my sister", "my sister"),
    ],
)
def test_typos_are_spelled_as_meant(typed: str, spelled: str) -> None:
    assert Speller(VOCABULARY).text(typed) == spelled


def test_an_english_word_is_never_corrected() -> None:
    speller = Speller({"sale": 9, "speaker": 9}, english=frozenset({"scale", "sneakers"}))
    assert speller.text("the scale broke") == "the scale broke"
    assert speller.text("my sneakers") == "my sneakers"
    assert speller.text("my speeker") == "my speaker"


def test_a_product_name_is_not_made_a_word_two_edits_away() -> None:
    speller = Speller({"airport": 9, "kind": 9, "there's": 9, "received": 9})
    assert speller.text("my airpods and the kindle") == "my airpods and the kindle"
    assert speller.text("a thermos") == "a thermos"
    assert speller.text("not recieevd") == "not received"  # eight letters: two edits
