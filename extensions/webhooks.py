"""What the messaging platforms' webhooks (extensions/telegram.py, extensions/facebook.py)
share: the platform proves each delivery (a secret token, a signature), so a message can
say who its user is.

- With no access token the channel is off: its routes answer 404.
- The conversation is `<channel>:<user id>`, and the message's verified metadata
  (extensions/inbound.py) holds the delivery's facts and a signed identity of the user
  (extensions/identity.py).
"""

from __future__ import annotations

import logging
from typing import Any

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from extensions import identity, inbound


def off() -> HTTPResponse:
    """The answer of every route of a channel that is off."""
    return response.json({"status": "off"}, status=404)


class VerifiedWebhookInput(InputChannel):
    """A platform's webhook; a subclass sets `identity_secret`, `log_name` (the platform's
    name in its log lines) and says when it is `enabled` (it has its access token)."""

    identity_secret = ""
    log_name = ""

    @property
    def enabled(self) -> bool:
        raise NotImplementedError

    def add_health_route(self, hook: Blueprint) -> None:
        @hook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            if not self.enabled:
                return off()
            return response.json({"status": "ok"})

    def verified_identity(self, user_id: str) -> dict[str, str]:
        if not self.identity_secret:
            # Logged by the channel's own module, as its other lines.
            logging.getLogger(type(self).__module__).error(
                "%s: CHANNEL_IDENTITY_SECRET is not set; users stay anonymous", self.log_name
            )
            return {"channel": self.name()}
        signed = identity.assert_identity(self.name(), user_id, secret=self.identity_secret)
        return {"channel": self.name(), "identity": signed}

    def user_message(
        self, user_id: str, text: Any, output: OutputChannel, facts: dict[str, Any]
    ) -> UserMessage:
        """The message of a verified delivery: `facts` and who the user is in its metadata."""
        metadata = {inbound.VERIFIED: {**facts, **self.verified_identity(user_id)}}
        return UserMessage(
            inbound.readable_text(text),
            output,
            identity.conversation_id(self.name(), user_id),
            input_channel=self.name(),
            metadata=metadata,
        )
