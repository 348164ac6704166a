"""Buyers' typos read as the words they meant, for the intent classifier only.

"pls cancle my dispite for the speeker", "hows my dispte goin", "my bakpack never
arived": each misspelt word is one or two keystrokes from a word of the training data.
This component learns that vocabulary when the model is trained and, for each message,
writes a corrected copy of its text under `spelled_text`: a word the vocabulary does not
know, of four letters or more, becomes the known word with the same first letter that is
closest by edit distance (transpositions count as one), if it is within one edit (two
for words of eight letters or more) and no other is as close. The sentence featurizer and
the intent classifier read that copy; the text itself, which the tracker stores and the
actions read, is left as the buyer typed it.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from typing_extensions import Self

from extensions.components import TrainedComponent

SPELLED_TEXT = "spelled_text"
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
MIN_COUNT = 3  # a word seen once or twice in training may itself be a typo
# Letters a word needs before two edits may correct it. From six, product names became
# training words ("airpods" read as "airport", "kindle" as "kind", "thermos" as
# "there's"); from eight, cross-validation scored the same (docs/nlu.md).
TWO_EDITS_FROM = 8


def english_words() -> frozenset[str]:
    """The whole words of the sentence encoder's vocabulary (about 20,000 common ones)."""
    from extensions.sentence_embeddings import shared_encoder

    return shared_encoder().words()


def text_of(message: Message) -> str:
    """The text to classify: the spelled copy when there is one."""
    spelled = message.get(SPELLED_TEXT)
    return spelled if isinstance(spelled, str) and spelled else str(message.get(TEXT) or "")


def edit_distance(a: str, b: str, limit: int) -> int:
    """Damerau-Levenshtein distance (optimal string alignment), or limit + 1 once it is
    certain to exceed `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


class Speller:
    """Corrects words against a vocabulary with counts; a word of `english` (the sentence
    encoder's word list) is never corrected, so "scale" never becomes "sale"."""

    def __init__(self, counts: dict[str, int], english: frozenset[str] = frozenset()) -> None:
        self.counts = counts
        self.english = english
        self.by_letter: dict[str, list[str]] = {}
        for word in counts:
            self.by_letter.setdefault(word[0], []).append(word)

    def word(self, word: str) -> str:
        if len(word) < 4 or word in self.counts or word in self.english:
            return word
        limit = 1 if len(word) < TWO_EDITS_FROM else 2
        best: list[tuple[int, int, str]] = []
        for known in self.by_letter.get(word[0], []):
            distance = edit_distance(word, known, limit)
            if distance <= limit:
                best.append((distance, -self.counts[known], known))
        if not best:
            return word
        best.sort()
        if len(best) > 1 and best[0][:2] == best[1][:2]:
            return word  # two words as close and as common: no guess
        return best[0][2]

    def text(self, text: str) -> str:
        return _WORD.sub(lambda m: self.word(m.group(0)), text.lower())


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=True)
class SpellingNormaliser(TrainedComponent):
    """Writes a spelled copy of each message's text (see the module's docstring)."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {}

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        counts: dict[str, int] | None = None,
    ) -> None:
        super().__init__(config, model_storage, resource)
        self._speller = Speller(counts or {}, english_words())

    def train(self, training_data: TrainingData) -> Resource:
        counts = Counter(
            word
            for m in training_data.training_examples
            for word in _WORD.findall(str(m.get(TEXT) or "").lower())
        )
        vocabulary = {w: n for w, n in counts.items() if n >= MIN_COUNT and len(w) >= 3}
        self._speller = Speller(vocabulary, english_words())
        with self._model_storage.write_to(self._resource) as directory:
            (directory / "vocabulary.json").write_text(json.dumps(vocabulary))
        return self._resource

    @classmethod
    def read_files(cls, directory: Path) -> dict[str, int]:
        counts: dict[str, int] = json.loads((directory / "vocabulary.json").read_text())
        return counts

    @classmethod
    def from_files(
        cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource, files: Any
    ) -> Self:
        return cls(config, model_storage, resource, files)

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT)
            if isinstance(text, str) and text and not text.startswith("/"):
                message.set(SPELLED_TEXT, self._speller.text(text))
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data  # trained on the examples as written
