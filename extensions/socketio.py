"""The web chat's socket.io channel, with working session persistence.

Rasa 3.6 calls `sio.enter_room(...)` without awaiting it. Since
python-socketio 5.10 that method of the async server is a coroutine, so the
socket never joins the room named after the conversation and every bot reply
sent to that room is silently dropped (Rasa issue 13027). This subclass
replaces the `session_request` handler with one that awaits it; everything
else is Rasa's own channel.
"""

from __future__ import annotations

import inspect
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketIOInput
from sanic import Blueprint

logger = logging.getLogger(__name__)


class PersistentSocketIOInput(SocketIOInput):
    """socket.io input whose sessions survive a page reload."""

    @classmethod
    def name(cls) -> str:
        return "socketio"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        blueprint = super().blueprint(on_new_message)
        sio = self.sio
        assert sio is not None  # set by the parent's blueprint()

        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: str, data: dict[str, Any] | None) -> None:
            data = data if isinstance(data, dict) else {}
            session_id = data.get("session_id")
            if not isinstance(session_id, str) or not session_id.strip():
                session_id = uuid.uuid4().hex
            if self.session_persistence:
                entered = sio.enter_room(sid, session_id, namespace=self.namespace)
                if inspect.isawaitable(entered):  # python-socketio >= 5.10
                    await entered
            await sio.emit("session_confirm", session_id, room=sid, namespace=self.namespace)
            logger.debug("socket %s joined conversation %s", sid, session_id)

        return blueprint
