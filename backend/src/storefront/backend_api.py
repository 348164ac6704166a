"""The page's calls to the dispute backend, authenticated as the storefront."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx


class BackendUnavailable(Exception):
    """The backend did not answer, or answered with an error."""


class SessionGone(Exception):
    """The chat session was revoked or is unknown (a reset database): start a new one."""


@dataclass(frozen=True)
class ChatToken:
    token: str
    expires_at: str
    session_id: str
    conversation_id: str


class StorefrontBackend:
    def __init__(self, base_url: str, service_token: str, timeout: float = 3.0) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {service_token}"},
            timeout=timeout,
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def _get(self, path: str, **kwargs: Any) -> Any:
        try:
            response = await self._client.get(path, **kwargs)
            response.raise_for_status()
        except httpx.HTTPError as error:
            raise BackendUnavailable(str(error)) from error
        return response.json()

    async def buyers(self) -> list[dict[str, Any]]:
        buyers: list[dict[str, Any]] = await self._get("/api/v1/storefront/buyers")
        return buyers

    async def chat_token(
        self, buyer_id: str, *, session_id: str | None = None, conversation_id: str | None = None
    ) -> ChatToken:
        """A token for the buyer's chat session `session_id`, or for a new session bound to
        `conversation_id`; SessionGone when `session_id` no longer holds."""
        body: dict[str, str] = {"buyer_id": buyer_id}
        if session_id:
            body["session_id"] = session_id
        elif conversation_id:
            body["conversation_id"] = conversation_id
        try:
            response = await self._client.post("/api/v1/storefront/chat-tokens", json=body)
        except httpx.HTTPError as error:
            raise BackendUnavailable(type(error).__name__) from error
        if response.status_code == 404 and session_id:
            raise SessionGone(session_id)
        if response.status_code >= 400:
            raise BackendUnavailable(f"chat token: {response.status_code}")
        answer = response.json()
        return ChatToken(
            token=answer["token"],
            expires_at=answer["expires_at"],
            session_id=answer["session_id"],
            conversation_id=answer.get("conversation_id") or "",
        )

    async def end_chat_session(self, session_id: str) -> None:
        """Revoke the session and every token of it (sign-out)."""
        try:
            response = await self._client.delete(f"/api/v1/storefront/chat-sessions/{session_id}")
            response.raise_for_status()
        except httpx.HTTPError as error:
            raise BackendUnavailable(type(error).__name__) from error

    async def orders(self, chat_token: str) -> list[dict[str, Any]]:
        orders: list[dict[str, Any]] = await self._get(
            "/api/v1/orders", headers={"X-Buyer-Token": chat_token}
        )
        return orders
