"""The web chat's socket.io channel, with working session persistence.

Rasa 3.6 calls `sio.enter_room(...)` without awaiting it. Since
python-socketio 5.10 that method of the async server is a coroutine, so the
socket never joins the room named after the conversation and every bot reply
sent to that room is silently dropped (Rasa issue 13027). This subclass
replaces the `session_request` handler with one that awaits it.

It also applies the checks every channel applies (docs/security.md):

- a conversation id is 32 hex digits, as the server makes them: a client
  asking for anything else (a Telegram conversation's `telegram:12345`, say)
  gets a new one;
- a socket speaks for the conversation it joined, not for whichever
  `session_id` a message names;
- the client's metadata loses the `verified` key, which only a verified
  webhook writes, and an empty or over-long text becomes an intent that says
  so (extensions/inbound.py);
- a socket.io packet is at most 64 KB. (Which origins may read the answers is
  Rasa's CORS setting, `--cors`: the web page's origins only.)

Several Rasa servers (`make run-cluster`) need two more settings, both off by default:

- `redis_url`: the servers share their rooms through Redis (python-socketio's
  AsyncRedisManager). A reply emitted to a conversation's room on any server (an
  operator's reply, which the load balancer may send to another server than the one
  holding the buyer's socket) reaches the sockets of that room on every server;
- `session_cookie`: the handshake answers with a cookie of that name holding the
  engine.io session id, from which the load balancer learns which server holds the
  session, so that the long-polling requests that follow (they carry `sid=`) go to the
  same server. The browser never needs the cookie (HAProxy reads it from the answer);
- `redis_channel`: the pub/sub channel (Redis channels ignore database numbers, so two
  deployments on one Redis need two names).
"""

from __future__ import annotations

import inspect
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.channels.socketio import SocketIOInput, SocketIOOutput
from sanic import Blueprint
from socketio import AsyncRedisManager, AsyncServer

from extensions import inbound

logger = logging.getLogger(__name__)

SESSION_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_PACKET_BYTES = 64 * 1024


def valid_session_id(value: Any) -> str | None:
    return value if isinstance(value, str) and SESSION_ID.match(value) else None


class PersistentSocketIOInput(SocketIOInput):
    """socket.io input whose sessions survive a page reload."""

    @classmethod
    def name(cls) -> str:
        return "socketio"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        channel = super().from_credentials(credentials)
        assert isinstance(channel, PersistentSocketIOInput)
        credentials = credentials or {}
        channel.redis_url = str(credentials.get("redis_url") or "").strip()
        channel.session_cookie = str(credentials.get("session_cookie") or "").strip()
        channel.redis_channel = str(credentials.get("redis_channel") or "").strip()
        return channel

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conversations: dict[str, str] = {}  # socket id -> the conversation it joined
        self.redis_url = ""  # rooms shared with the other Rasa servers through Redis
        self.session_cookie = ""  # the load balancer's stickiness
        self.redis_channel = ""  # the pub/sub channel: one per deployment sharing a Redis

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        blueprint = super().blueprint(on_new_message)
        sio = self.sio
        assert sio is not None  # set by the parent's blueprint()
        sio.eio.max_http_buffer_size = MAX_PACKET_BYTES
        if self.redis_url:
            share_rooms(sio, self.redis_url, self.redis_channel or "disputes-socketio")
        if self.session_cookie:
            sio.eio.cookie = {
                "name": self.session_cookie,
                "path": "/",
                "SameSite": "Lax",
                "HttpOnly": True,
            }

        async def join(sid: str, conversation: str) -> None:
            self.conversations[sid] = conversation
            if self.session_persistence:
                entered = sio.enter_room(sid, conversation, namespace=self.namespace)
                if inspect.isawaitable(entered):  # python-socketio >= 5.10
                    await entered

        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: str, data: dict[str, Any] | None) -> None:
            data = data if isinstance(data, dict) else {}
            conversation = valid_session_id(data.get("session_id")) or uuid.uuid4().hex
            await join(sid, conversation)
            await sio.emit("session_confirm", conversation, room=sid, namespace=self.namespace)
            logger.debug("socket %s joined conversation %s", sid, conversation)

        @sio.on("disconnect", namespace=self.namespace)
        async def disconnect(sid: str) -> None:
            self.conversations.pop(sid, None)

        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def handle_message(sid: str, data: Any) -> None:
            data = data if isinstance(data, dict) else {}
            conversation = self.conversations.get(sid)
            if conversation is None:  # a socket that never asked for its session (a restart)
                conversation = valid_session_id(data.get("session_id"))
                if conversation is None:
                    logger.info("socket %s sent a message without a valid session; ignored", sid)
                    return
                await join(sid, conversation)
            metadata = data.get(self.metadata_key)
            if isinstance(metadata, str):
                try:
                    metadata = json.loads(metadata)
                except ValueError:
                    metadata = {}
            message = UserMessage(
                inbound.readable_text(data.get("message")),
                SocketIOOutput(sio, self.bot_message_evt),
                conversation,
                input_channel=self.name(),
                metadata=inbound.client_metadata(metadata),
            )
            await on_new_message(message)

        return blueprint


def share_rooms(sio: AsyncServer, redis_url: str, channel: str) -> None:
    """Emit through Redis: a room's sockets on every server get what any server emits to it
    (each emit is delivered here first, then published for the others). Set before the
    first connection, which starts the manager's listener."""
    manager = AsyncRedisManager(redis_url, channel=channel)
    manager.set_server(sio)
    sio.manager = manager
