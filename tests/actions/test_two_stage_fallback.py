"""Two-stage fallback: a message the NLU could not settle on is offered its likely
meanings by name before any "please rephrase"."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.support import ActionHandleFallback
from tests.actions.conftest import make_tracker, responses
from tests.actions.fake_backend import InMemoryDisputeBackend, make_order


def unsure(text: str, ranking: list[tuple[str, float]], **kwargs: Any) -> Tracker:
    tracker = make_tracker(text=text, intent="nlu_fallback", **kwargs)
    tracker.latest_message["intent_ranking"] = [
        {"name": "nlu_fallback", "confidence": 0.4},
        *({"name": name, "confidence": confidence} for name, confidence in ranking),
    ]
    return tracker


def buttons(dispatcher: CollectingDispatcher) -> list[dict[str, str]]:
    return [b for m in dispatcher.messages for b in m.get("buttons") or []]


async def test_two_close_meanings_are_offered_by_name(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    ranking = [("modify_dispute", 0.33), ("cancel_dispute", 0.31), ("greet", 0.1)]
    tracker = unsure("i want to drop the refund thing", ranking)
    await ActionHandleFallback(backend).run(dispatcher, tracker, {})
    assert responses(dispatcher) == ["utter_did_you_mean"]
    assert [b["title"] for b in buttons(dispatcher)] == [
        "Change my refund request",
        "Cancel a dispute",
    ]
    assert [b["payload"] for b in buttons(dispatcher)] == ["/modify_dispute", "/cancel_dispute"]


async def test_a_guess_keeps_the_order_the_message_named_by_product(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    backend.add_order("alice", make_order("8100000000000031", title="Bluetooth speaker"))
    tracker = unsure(
        "lower the speaker refund thing", [("modify_dispute", 0.38), ("refund_problem", 0.30)]
    )
    await ActionHandleFallback(backend).run(dispatcher, tracker, {})
    first = buttons(dispatcher)[0]["payload"]
    assert first.startswith("/modify_dispute")
    assert json.loads(first.removeprefix("/modify_dispute")) == {"order_id": "8100000000000031"}


@pytest.mark.parametrize(
    ("text", "ranking"),
    [
        ("flurb", [("greet", 0.35), ("open_dispute", 0.30)]),
        ("blah flurb zzz", [("open_dispute", 0.12), ("cancel_dispute", 0.10)]),
    ],
    ids=["a-guess-that-is-not-something-the-bot-does", "noise"],
)
async def test_no_guess_worth_offering_gets_the_usual_menu(
    text: str,
    ranking: list[tuple[str, float]],
    backend: InMemoryDisputeBackend,
    dispatcher: CollectingDispatcher,
) -> None:
    await ActionHandleFallback(backend).run(dispatcher, unsure(text, ranking), {})
    assert responses(dispatcher) == ["utter_ask_rephrase"]


async def test_only_the_guess_above_the_floor_is_offered(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    tracker = unsure("where's my stuff", [("report_not_received", 0.36), ("greet", 0.05)])
    await ActionHandleFallback(backend).run(dispatcher, tracker, {})
    assert [b["title"] for b in buttons(dispatcher)] == ["Package not received"]


async def test_inside_a_form_the_form_asks_again_instead(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    tracker = unsure(
        "hmm the thing",
        [("modify_dispute", 0.33), ("cancel_dispute", 0.31)],
        active_loop="dispute_form",
        requested_slot="description",
    )
    await ActionHandleFallback(backend).run(dispatcher, tracker, {})
    assert responses(dispatcher) == ["utter_off_track_in_form"]
