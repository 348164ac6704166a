"""The NLU's sentence encoder: offline, deterministic, and meaningful."""

from __future__ import annotations

import numpy as np
import pytest
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from extensions.sentence_embeddings import (
    SentenceEmbeddingFeaturizer,
    model_directory,
    normalise,
    shared_encoder,
)


def test_order_numbers_become_one_word() -> None:
    assert normalise("order #8123 4567 8901 2345 never came") == "order order never came"
    assert normalise("8123456789012345") == "order"
    assert normalise("it never came") == "it never came"


def test_the_model_comes_from_the_installed_package() -> None:
    directory = model_directory()
    assert (directory / "model.safetensors").is_file()
    assert (directory / "tokenizer.json").is_file()


@pytest.fixture(scope="module")
def encoder():  # type: ignore[no-untyped-def]
    return shared_encoder()


def test_vectors_are_unit_length_and_repeatable(encoder) -> None:  # type: ignore[no-untyped-def]
    texts = ["my parcel never arrived", "yes", "the screen was cracked when i opened the box"]
    first = encoder.embed(texts)
    assert first.shape == (3, encoder.dimension) == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(encoder.embed(texts[::-1])[::-1], first, atol=1e-5)
    assert encoder.embed([]).shape == (0, 384)


def test_vectors_match_the_reference_bert(encoder) -> None:  # type: ignore[no-untyped-def]
    # The first six values of each vector as computed by the transformers
    # library's BERT on the same weights: the hand-built ONNX graph is that model.
    reference = {
        "my earbuds arrived broken and I want my money back": [
            -0.04094,
            -0.00744,
            0.03274,
            -0.06094,
            -0.07165,
            -0.02308,
        ],
        "yes, i'll return them": [-0.08454, -0.02741, 0.00674, 0.02916, -0.0134, -0.04316],
    }
    vectors = encoder.embed(list(reference))
    np.testing.assert_allclose(vectors[:, :6], np.array(list(reference.values())), atol=1e-4)


def test_paraphrases_are_closer_than_other_requests(encoder) -> None:  # type: ignore[no-untyped-def]
    lost, paraphrase, other = encoder.embed(
        [
            "my package never arrived",
            "still waiting for the parcel, it has not come",
            "how do i talk to the seller",
        ]
    )
    assert lost @ paraphrase > lost @ other + 0.2


def test_the_featurizer_adds_one_sentence_vector(encoder) -> None:  # type: ignore[no-untyped-def]
    featurizer = SentenceEmbeddingFeaturizer("sentence_embeddings", {"alias": None})
    with_text, without_text = Message(data={TEXT: "where is my order"}), Message(data={})
    featurizer.process_training_data(TrainingData([with_text, without_text]))
    sequence, sentence = with_text.get_dense_features(TEXT)
    assert sequence is None
    assert sentence is not None and sentence.features.shape == (1, 384)
    assert without_text.get_dense_features(TEXT) == (None, None)
