"""Messenger's standard messaging window, on a clock the test moves (extensions/facebook.py):
a pushed message (an operator's reply) goes as RESPONSE while the user wrote less than the
window ago, and with the HUMAN_AGENT tag after; the window runs from the message's own
timestamp."""

from __future__ import annotations

from typing import Any

from rasa.core.channels.channel import UserMessage

from extensions.facebook import MessengerInput

WINDOW = 24 * 3600.0
USER = "9100000000000001"
RESPONSE = {"messaging_type": "RESPONSE"}
TAGGED = {"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def channel(clock: Clock) -> MessengerInput:
    return MessengerInput(
        "verify",
        "secret",
        "page-token",
        api_url="http://127.0.0.1:9",
        window_seconds=WINDOW,
        identity_secret="s" * 32,
        clock=clock,
    )


async def user_writes(messenger: MessengerInput, timestamp_ms: int | None, mid: str) -> None:
    event: dict[str, Any] = {"sender": {"id": USER}, "message": {"mid": mid, "text": "hi"}}
    if timestamp_ms is not None:
        event["timestamp"] = timestamp_ms
    received: list[UserMessage] = []

    async def on_new_message(message: UserMessage) -> None:
        received.append(message)

    await messenger.handle(event, on_new_message)
    assert [m.sender_id for m in received] == [f"facebook:{USER}"]


def pushed_type(messenger: MessengerInput) -> dict[str, str]:
    return messenger.output(pushed=True).messaging_type(f"facebook:{USER}")


async def test_an_operator_reply_is_a_response_inside_the_window_and_tagged_after() -> None:
    clock = Clock(1_800_000_000.0)
    messenger = channel(clock)
    assert pushed_type(messenger) == TAGGED  # never wrote: not known to be inside
    await user_writes(messenger, int(clock.now * 1000), "m1")
    assert pushed_type(messenger) == RESPONSE
    clock.now += WINDOW - 1
    assert pushed_type(messenger) == RESPONSE
    clock.now += 1
    assert pushed_type(messenger) == TAGGED
    assert messenger.output(pushed=False).messaging_type(f"facebook:{USER}") == RESPONSE


async def test_a_message_delivered_late_does_not_reopen_the_window() -> None:
    clock = Clock(1_800_000_000.0)
    messenger = channel(clock)
    written = clock.now - WINDOW - 60  # retried by Messenger a day later
    await user_writes(messenger, int(written * 1000), "m1")
    assert pushed_type(messenger) == TAGGED


async def test_the_latest_message_counts_and_a_future_stamp_counts_as_now() -> None:
    clock = Clock(1_800_000_000.0)
    messenger = channel(clock)
    await user_writes(messenger, int(clock.now * 1000), "m1")
    await user_writes(messenger, int((clock.now - WINDOW) * 1000), "m2")  # older, out of order
    assert pushed_type(messenger) == RESPONSE
    await user_writes(messenger, int((clock.now + 10 * WINDOW) * 1000), "m3")
    clock.now += WINDOW
    assert pushed_type(messenger) == TAGGED
    await user_writes(messenger, None, "m4")  # no stamp: when it arrived
    assert pushed_type(messenger) == RESPONSE
