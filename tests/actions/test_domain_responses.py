"""Every button of domain.yml reaches the bot as the intent and entities it names."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from rasa.core.nlg import interpolator
from rasa.shared.core.domain import Domain

DOMAIN = Domain.load(str(Path(__file__).resolve().parents[2] / "domain.yml"))
PAYLOAD = re.compile(r"^/(?P<intent>\w+)(?P<entities>\{.*\})?$")
BUTTONS = [
    (name, button)
    for name, variants in DOMAIN.responses.items()
    for variant in variants
    for button in variant.get("buttons", [])
]


def test_the_domain_has_buttons() -> None:
    assert len(BUTTONS) >= 8


@pytest.mark.parametrize(("response", "button"), BUTTONS)
def test_a_button_payload_is_sent_unchanged_and_without_an_error(
    response: str, button: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    errors: list[Any] = []
    monkeypatch.setattr(
        interpolator.structlogger, "exception", lambda *a, **k: errors.append((a, k))
    )
    values = {slot.name: None for slot in DOMAIN.slots}
    sent = interpolator.interpolate(dict(button), values)["payload"]
    assert errors == [], f"{response}: Rasa could not fill {button['payload']!r}"
    match = PAYLOAD.match(sent)
    assert match, f"{response}: {sent!r} is not /intent{{entities}}"
    assert match["intent"] in DOMAIN.intents
    entities = json.loads(match["entities"] or "{}")
    assert set(entities) <= set(DOMAIN.entities) | {slot.name for slot in DOMAIN.slots}
