"""Make Rasa 3.6 stop re-checking a constant JSON schema on every action call.

Rasa validates each answer of the action server with `jsonschema.validate(
result, schema)`. That function first checks the *schema itself* against the
draft 2020-12 meta-schema, every time, which is the most expensive thing a
form turn does: it was about 45 % of the Rasa server's CPU under load. The
schema never changes, so it is checked once here and the compiled validator
is reused; validation of every action result still happens.
"""

from __future__ import annotations

import functools
from typing import Any

from jsonschema import Draft202012Validator, ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.shared.constants import DOCS_BASE_URL


@functools.lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    schema = RemoteAction.action_response_format_spec()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    try:
        _validator().validate(result)
    except ValidationError as error:
        error.message += (
            ". Failed to validate Action server response from API, make sure your "
            f"response from the Action endpoint is valid. See {DOCS_BASE_URL}/custom-actions"
        )
        raise
    return True


def install() -> None:
    RemoteAction._validate_action_result = _validate_action_result
