""" "What happens if I cancel?" (R6): about a dispute in progress the buyer names, the cancel
form answers with its dates and asks; otherwise the general answer."""

from __future__ import annotations

from rasa_sdk.executor import CollectingDispatcher

from actions.support import ActionAnswerCancelQuestion
from tests.actions.conftest import ORDER, make_tracker, open_one, responses
from tests.actions.fake_backend import InMemoryDisputeBackend

QUESTION = "if i cancel the earbuds dispute can i open another one later?"


async def test_about_a_dispute_in_progress_it_is_read_again_as_cancelling_it(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    open_one(backend)
    tracker = make_tracker(text=QUESTION, intent="ask_cancel_consequence")
    events = await ActionAnswerCancelQuestion(backend).run(dispatcher, tracker, {})
    assert dispatcher.messages == []  # the cancel form's question says it, with dates
    assert events[0]["event"] == "rewind"
    restated = events[2]
    assert restated["parse_data"]["intent"]["name"] == "cancel_dispute"
    assert restated["parse_data"]["entities"] == [{"entity": "order_id", "value": ORDER}]


async def test_a_general_question_gets_the_general_answer(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    open_one(backend)
    general = make_tracker(text="what happens to my money if i cancel a dispute?")
    assert await ActionAnswerCancelQuestion(backend).run(dispatcher, general, {}) == []
    assert responses(dispatcher) == ["utter_ask_cancel_consequence"]


async def test_without_a_dispute_in_progress_or_a_sign_in_the_answer_is_general(
    backend: InMemoryDisputeBackend,
) -> None:
    for tracker in (make_tracker(text=QUESTION), make_tracker(text=QUESTION, token=None)):
        dispatcher = CollectingDispatcher()
        assert await ActionAnswerCancelQuestion(backend).run(dispatcher, tracker, {}) == []
        assert responses(dispatcher) == ["utter_ask_cancel_consequence"]
    backend.down = True
    dispatcher = CollectingDispatcher()
    assert (
        await ActionAnswerCancelQuestion(backend).run(dispatcher, make_tracker(text=QUESTION), {})
        == []
    )
    assert responses(dispatcher) == ["utter_ask_cancel_consequence"]
