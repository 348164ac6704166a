"""Linking a Telegram or Messenger user to their marketplace account, and unlinking.

On those channels nobody is signed in: until the user links their account the bot answers
general questions only. `link_account_form` asks the account's e-mail (the backend mails a
one-time code, or pretends to when the e-mail is unknown, so the chat never tells), then the
code; the backend counts the attempts and the code's age.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.backend_client import BackendError, Credential, Refused
from actions.common import UsesBackend, channel_identity
from actions.forms import FormValidation, validates_any_value

logger = logging.getLogger(__name__)

EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
CODE = re.compile(r"(?<!\d)(\d{6})(?!\d)")
# Values of `link_code` once the form has nothing more to ask.
LINKED, STOPPED, NOT_NEEDED = "linked", "stopped", "not_needed"
DONE = (LINKED, STOPPED, NOT_NEEDED)


def account_to_link(dispatcher: CollectingDispatcher, tracker: Tracker) -> Credential | None:
    """The channel account the chat is on; None, said, on the web, where the buyer who
    writes is signed in already."""
    account = channel_identity(tracker)
    if account is None:
        dispatcher.utter_message(response="utter_link_not_needed")
    return account


class ValidateLinkAccountForm(FormValidation):
    def name(self) -> str:
        return "validate_link_account_form"

    def has_ended(self, tracker: Tracker) -> bool:
        return tracker.get_slot("link_code") in DONE

    @validates_any_value
    def validate_link_email(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> dict[str, Any]:
        account = account_to_link(dispatcher, tracker)
        if account is None:
            return {"link_email": "-", "link_code": NOT_NEEDED}
        match = EMAIL.search(str(slot_value or ""))
        if match is None:
            dispatcher.utter_message(response="utter_link_email_invalid")
            return {"link_email": None}
        email = match.group(0).lower()
        try:
            self.channel_backend.request_link_code(account, email)
        except Refused as error:
            logger.info("link code for %s refused: %s", account.conversation_id, error.problem)
            dispatcher.utter_message(response="utter_link_code_rate_limited")
            return {"link_email": email, "link_code": STOPPED}
        except BackendError as error:
            logger.warning("link code for %s failed: %s", account.conversation_id, error)
            dispatcher.utter_message(response="utter_backend_unavailable")
            return {"link_email": email, "link_code": STOPPED}
        dispatcher.utter_message(response="utter_link_code_sent", email=email)
        return {"link_email": email}

    @validates_any_value
    def validate_link_code(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> dict[str, Any]:
        if slot_value in DONE:
            return {"link_code": slot_value}
        account = account_to_link(dispatcher, tracker)
        if account is None:
            return {"link_code": NOT_NEEDED}
        match = CODE.search(str(slot_value or ""))
        if match is None:
            dispatcher.utter_message(response="utter_link_code_format")
            return {"link_code": None}
        try:
            attempt = self.channel_backend.link_account(account, match.group(1))
        except BackendError as error:
            logger.warning("linking %s failed: %s", account.conversation_id, error)
            dispatcher.utter_message(response="utter_backend_unavailable")
            return {"link_code": STOPPED}
        if attempt.linked:
            logger.info("%s linked", account.conversation_id)
            dispatcher.utter_message(
                response="utter_account_linked", name=attempt.buyer_name or "there"
            )
            return {"link_code": LINKED}
        if attempt.problem == "link-code-wrong" and attempt.attempts_left > 0:
            dispatcher.utter_message(
                response="utter_link_code_wrong", attempts_left=attempt.attempts_left
            )
            return {"link_code": None}
        dispatcher.utter_message(response="utter_link_code_expired")
        return {"link_code": STOPPED}


class ActionLinkAccount(Action):
    """The form's submit step: everything was said while validating; forget the answers
    (the code is single-use, and the e-mail need not stay in the conversation)."""

    def name(self) -> str:
        return "action_link_account"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        return [SlotSet("link_email", None), SlotSet("link_code", None)]


class ActionUnlinkAccount(UsesBackend, Action):
    def name(self) -> str:
        return "action_unlink_account"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        account = account_to_link(dispatcher, tracker)
        if account is None:
            return []
        try:
            self.channel_backend.unlink_account(account)
        except BackendError as error:
            logger.warning("unlinking %s failed: %s", account.conversation_id, error)
            dispatcher.utter_message(response="utter_backend_unavailable")
            return []
        logger.info("%s unlinked", account.conversation_id)
        dispatcher.utter_message(response="utter_account_unlinked")
        return []
