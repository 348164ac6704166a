"""Finding 9: odd dispute and order ids typed to the bot get a helpful reply, never a 500,
a stack trace or a change to the buyer's disputes."""

from __future__ import annotations

import pytest

from tests.security.conftest import (
    RunningStack,
    chat_token,
    disputes_of,
    log_text,
    new_sender,
    rest_post,
    texts,
)

FULL_WIDTH = str.maketrans("0123456789", "".join(chr(0xFF10 + d) for d in range(10)))
BOLD = str.maketrans("0123456789", "".join(chr(0x1D7CE + d) for d in range(10)))
ARABIC_INDIC = str.maketrans("0123456789", "".join(chr(0x0660 + d) for d in range(10)))
SUPERSCRIPT = str.maketrans(
    "0123456789", "\u2070\u00b9\u00b2\u00b3" + "".join(chr(0x2074 + d) for d in range(6))
)

ODD = [
    "cancel dispute D-\u00b2",
    "status of D-99999999999999999999",
    "status of dispute D-" + "1234".translate(ARABIC_INDIC),
    "cancel dispute D-" + "123".translate(BOLD),
    "status of D-" + "0001".translate(FULL_WIDTH),
    "cancel dispute D-1e309",
    "status of D--1",
    "status of D-0x1F",
    "change dispute D-%00 to 5 euros",
    "status of D-../../etc/passwd",
    "where is order " + "8300000000000031".translate(FULL_WIDTH),  # a real order of carla's
    "where is order 83000000000000319999999999999999999999",
    "open a dispute for order " + "8300000000000031".translate(SUPERSCRIPT),
    "refund 1e309 euros on D-1",
]


@pytest.fixture(scope="module")
def carla(stack: RunningStack) -> tuple[str, str]:
    return new_sender("odd-ids"), chat_token(stack, "carla")


@pytest.mark.parametrize("text", ODD)
def test_odd_ids_get_a_helpful_reply(
    stack: RunningStack, carla: tuple[str, str], text: str
) -> None:
    sender, token = carla
    before = disputes_of(stack, "carla")
    errors_before = log_text(stack, "actions").count("Traceback")
    metadata = {"chat_token": token}
    answer = rest_post(stack, {"sender": sender, "message": text, "metadata": metadata})
    assert answer.status_code == 200, answer.text
    said = texts(answer.json())
    assert said.strip(), f"no answer to {text!r}"
    for sign in ("Traceback", "Exception", "Internal Server Error", "500"):
        assert sign not in said
    assert log_text(stack, "actions").count("Traceback") == errors_before
    rest_post(stack, {"sender": sender, "message": "stop", "metadata": metadata})
    assert disputes_of(stack, "carla") == before
