"""Finding 3: forged and replayed webhooks.

Telegram without or with a wrong secret token, and Messenger with a bad signature, are
refused with 403 and leave no trace in Rasa's tracker; an update (`update_id`) or a message
(`mid`) delivered twice is answered once and stored as one user turn; a signed Messenger
batch with malformed senders is acknowledged and its good events still answered.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest

from tests.e2e.fakes import FakePlatforms
from tests.security.conftest import MessengerUser, RunningStack, TelegramUser, user_turns


def test_telegram_forged_updates_are_refused_and_leave_no_trace(
    stack: RunningStack, platforms: FakePlatforms
) -> None:
    user = TelegramUser(stack, platforms, 72001)
    for secret in (
        "",
        "guessed",
        stack.env["TELEGRAM_SECRET_TOKEN"][:-1],
        stack.env["TELEGRAM_SECRET_TOKEN"] + "x",
    ):
        assert user.post(user.message(text="how are my disputes going?"), secret=secret) == 403
    assert platforms.sent_to_telegram(72001) == []
    assert user_turns(stack, "telegram:72001") == []
    assert user.say("hi")  # with the real secret: answered
    assert len(user_turns(stack, "telegram:72001")) == 1


def test_telegram_update_delivered_twice_is_handled_once(
    stack: RunningStack, platforms: FakePlatforms
) -> None:
    user = TelegramUser(stack, platforms, 72002)
    update = user.message(text="how long do I have to open a dispute?")
    assert user.post(update) == 200
    answered = len(platforms.sent_to_telegram(72002))
    assert answered >= 1
    assert user.post(update) == 200
    assert user.post({**update, "message": {**update["message"], "text": "changed"}}) == 200
    assert len(platforms.sent_to_telegram(72002)) == answered
    assert len(user_turns(stack, "telegram:72002")) == 1
    # a new update from the same chat is answered
    user.say("hi")
    assert len(user_turns(stack, "telegram:72002")) == 2


def test_messenger_bad_signatures_are_refused_and_leave_no_trace(
    stack: RunningStack, platforms: FakePlatforms
) -> None:
    user = MessengerUser(stack, platforms, "9200000000000001")
    body = user.delivery(user.event({"text": "how are my disputes going?"}))
    raw = json.dumps(body).encode()
    wrong_key = "sha256=" + hmac.new(b"guessed", raw, hashlib.sha256).hexdigest()
    good = "sha256=" + hmac.new(user.secret, raw, hashlib.sha256).hexdigest()
    for signature in (
        "",
        "sha256=",
        wrong_key,
        good.upper(),
        good[:-1],
        good + "00",
        good.replace("sha256=", "sha1="),
    ):
        assert user.post(body, signature=signature) == 403, signature
    assert platforms.sent_to_messenger("9200000000000001") == []
    assert user_turns(stack, "facebook:9200000000000001") == []
    assert user.say("hi")
    assert len(user_turns(stack, "facebook:9200000000000001")) == 1


def test_messenger_message_delivered_twice_is_handled_once(
    stack: RunningStack, platforms: FakePlatforms
) -> None:
    user = MessengerUser(stack, platforms, "9200000000000002")
    event = user.event({"text": "how long do I have to open a dispute?"})
    assert user.post(user.delivery(event)) == 200
    answered = len(platforms.sent_to_messenger("9200000000000002"))
    assert answered >= 1
    assert user.post(user.delivery(event)) == 200
    assert user.post(user.delivery(event, event)) == 200  # twice in one batch, too
    assert len(platforms.sent_to_messenger("9200000000000002")) == answered
    assert len(user_turns(stack, "facebook:9200000000000002")) == 1


@pytest.mark.parametrize(
    "sender",
    [
        "9200000000000009",
        9200000000000009,
        ["9200000000000009"],
        None,
        {"id": "92abc"},
        {"id": ["9200000000000009"]},
        {"id": None},
        {"id": True},
        {"id": "9" * 41},
        {"id": "../9200000000000009"},
        {"id": "٩٢٠٠"},
    ],
)
def test_a_signed_event_with_a_malformed_sender_is_acknowledged_and_the_batch_goes_on(
    stack: RunningStack, platforms: FakePlatforms, sender: Any
) -> None:
    good = MessengerUser(stack, platforms, "9200000000000003")
    odd = good.event({"text": "hi"})
    if sender is None:
        del odd["sender"]
    else:
        odd["sender"] = sender
    before = len(platforms.sent_to_messenger("9200000000000003"))
    assert good.post(good.delivery(odd, good.event({"text": "hello"}))) == 200
    assert len(platforms.sent_to_messenger("9200000000000003")) > before
    assert platforms.sent_to_messenger("9200000000000009") == []
