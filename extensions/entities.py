"""Deterministic extraction of order numbers and money amounts.

Order numbers and amounts have a fixed shape, so a pattern is more reliable
than a learned extractor: it finds "#8123456789012345", "order 8123 4567 8901
2345" or "8123-4567-8901-2345" in any message and always gives the same
normalised value (16 digits), and it reads "$12.50", "20 eur" or "15 dollars"
as an amount plus an ISO currency code.
"""

from __future__ import annotations

import re
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

ORDER_ID = re.compile(r"(?<![\w.,])#?\s?(\d(?:[ \-]?\d){15})(?![\w])")

_CURRENCY_WORDS = {
    "$": "USD",
    "usd": "USD",
    "dollar": "USD",
    "dollars": "USD",
    "bucks": "USD",
    "us$": "USD",
    "€": "EUR",
    "eur": "EUR",
    "euro": "EUR",
    "euros": "EUR",
    "£": "GBP",
    "gbp": "GBP",
    "pound": "GBP",
    "pounds": "GBP",
}
_CURRENCY = r"(?:us\$|[$€£]|usd|eur|gbp|dollars?|bucks|euros?|pounds?)"
AMOUNT = re.compile(
    rf"(?:(?P<before>{_CURRENCY})\s?(?P<num1>\d{{1,6}}(?:[.,]\d{{1,2}})?)(?![\d])"
    rf"|(?<![\d.,])(?P<num2>\d{{1,6}}(?:[.,]\d{{1,2}})?)\s?(?P<after>{_CURRENCY})(?![a-z]))",
    re.IGNORECASE,
)


def find_order_ids(text: str) -> list[dict[str, Any]]:
    found = []
    for match in ORDER_ID.finditer(text):
        digits = re.sub(r"\D", "", match.group(1))
        found.append(_entity("order_id", digits, match.start(1), match.end(1)))
    return found


def find_amounts(text: str, taken: list[tuple[int, int]]) -> list[dict[str, Any]]:
    found = []
    for match in AMOUNT.finditer(text):
        if any(start < match.end() and match.start() < end for start, end in taken):
            continue
        number = (match.group("num1") or match.group("num2")).replace(",", ".")
        currency = (match.group("before") or match.group("after")).lower()
        found.append(_entity("amount", number, match.start(), match.end()))
        found.append(_entity("currency", _CURRENCY_WORDS[currency], match.start(), match.end()))
    return found


# An e-mail address (account linking on Telegram and Messenger), normalised to lower case.
EMAIL = re.compile(
    r"(?<![\w.+\-])[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"
)


def find_emails(text: str) -> list[dict[str, Any]]:
    return [_entity("email", m.group(0).lower(), m.start(), m.end()) for m in EMAIL.finditer(text)]


def extract(text: str) -> list[dict[str, Any]]:
    orders = find_order_ids(text)
    found = orders + find_amounts(text, [(e["start"], e["end"]) for e in orders])
    return found + find_emails(text)


def _entity(name: str, value: str, start: int, end: int) -> dict[str, Any]:
    return {
        "entity": name,
        "value": value,
        "start": start,
        "end": end,
        "confidence_entity": 1.0,
        "extractor": MarketplaceEntityExtractor.__name__,
    }


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class MarketplaceEntityExtractor(GraphComponent, EntityExtractorMixin):
    """Adds `order_id`, `amount`, `currency` and `email` entities found by pattern."""

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> MarketplaceEntityExtractor:
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT)
            if not text:
                continue
            entities = [*message.get(ENTITIES, []), *extract(text)]
            message.set(ENTITIES, entities, add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data
