"""The intent classifier: learns, persists as plain numbers, loads, agrees."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from extensions.linear_intents import LinearIntentClassifier
from extensions.sentence_embeddings import SentenceEmbeddingFeaturizer

EXAMPLES = {
    "report_not_received": [
        "my package never arrived",
        "the parcel still has not come",
        "i did not receive my order",
        "where is my parcel, it is late",
        "tracking says delivered but nothing came",
    ],
    "contact_seller": [
        "how do i message the seller",
        "i want to talk to the shop",
        "where can i write to the store",
        "how to contact the seller",
        "send a message to the vendor",
    ],
    "greet": ["hello", "hi there", "good morning", "hey", "hiya"],
}


def _messages(texts: list[str], intent: str | None = None) -> list[Message]:
    data = [{TEXT: t, **({INTENT: intent} if intent else {})} for t in texts]
    messages = [Message(data=d) for d in data]
    SentenceEmbeddingFeaturizer("embeddings", {"alias": None}).process(messages)
    return messages


@pytest.fixture
def storage(tmp_path: Path) -> LocalModelStorage:
    return LocalModelStorage(tmp_path)


@pytest.fixture
def trained_classifier(storage: LocalModelStorage) -> LinearIntentClassifier:
    resource = Resource("linear_intents")
    context = ExecutionContext(GraphSchema({}), "test")
    classifier = LinearIntentClassifier.create({}, storage, resource, context)
    training = [m for intent, texts in EXAMPLES.items() for m in _messages(texts, intent)]
    classifier.train(TrainingData(training))
    return classifier


def test_learns_persists_and_loads(
    storage: LocalModelStorage, trained_classifier: LinearIntentClassifier
) -> None:
    unseen = ["my order did not turn up", "how can i reach the seller", "hi!"]
    trained = trained_classifier.process(_messages(unseen))
    assert [m.get(INTENT)["name"] for m in trained] == [
        "report_not_received",
        "contact_seller",
        "greet",
    ]
    ranking = trained[0].get(INTENT_RANKING_KEY)
    assert len(ranking) == 3
    assert sum(r["confidence"] for r in ranking) == pytest.approx(1.0)
    assert ranking == sorted(ranking, key=lambda r: -r["confidence"])

    context = ExecutionContext(GraphSchema({}), "test")
    loaded = LinearIntentClassifier.load({}, storage, Resource("linear_intents"), context)
    again = loaded.process(_messages(unseen))
    for before, after in zip(trained, again, strict=True):
        assert after.get(INTENT)["name"] == before.get(INTENT)["name"]
        assert after.get(INTENT)["confidence"] == pytest.approx(before.get(INTENT)["confidence"])


@pytest.mark.parametrize(
    "intents",
    [["report_not_received", "contact_seller", "greet"], ["report_not_received", "greet"]],
)
def test_the_fast_scores_are_scikit_learns(storage: LocalModelStorage, intents: list[str]) -> None:
    context = ExecutionContext(GraphSchema({}), "test")
    classifier = LinearIntentClassifier.create({}, storage, Resource("fast"), context)
    classifier.train(TrainingData([m for i in intents for m in _messages(EXAMPLES[i], i)]))
    texts = ["my order did not turn up turn up", "hi", "zzz", "how can i reach the seller?"]
    for message in _messages(texts):
        expected = classifier._model.predict_proba(classifier._features([message]))[0]
        np.testing.assert_allclose(classifier._probabilities(message), expected, rtol=1e-6)


def test_an_untrained_model_leaves_messages_alone(storage: LocalModelStorage) -> None:
    context = ExecutionContext(GraphSchema({}), "test")
    classifier = LinearIntentClassifier.load({}, storage, Resource("missing"), context)
    (message,) = classifier.process(_messages(["hello"]))
    assert message.get(INTENT) is None


@pytest.mark.parametrize("noise", ["@@@", "👍👍", "#*&^%", "~~ ~~", "?", "...", "!!!!"])
def test_a_message_of_symbols_alone_is_read_as_nothing(
    trained_classifier: LinearIntentClassifier, noise: str
) -> None:
    assert trained_classifier.process(_messages([noise]))[0].get(INTENT)["confidence"] == 0.0


@pytest.mark.parametrize("kept", ["hello", ":D", "hiya", "12345678", "€8"])
def test_words_and_numbers_are_still_read(
    trained_classifier: LinearIntentClassifier, kept: str
) -> None:
    assert trained_classifier.process(_messages([kept]))[0].get(INTENT)["confidence"] > 0.0
