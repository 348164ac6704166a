"""The page's calls to the dispute backend, authenticated as the storefront."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx


class BackendUnavailable(Exception):
    """The backend did not answer, or answered with an error."""


@dataclass(frozen=True)
class ChatToken:
    token: str
    expires_at: str


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

    async def chat_token(self, buyer_id: str) -> ChatToken:
        try:
            response = await self._client.post(
                "/api/v1/storefront/chat-tokens", json={"buyer_id": buyer_id}
            )
            response.raise_for_status()
        except httpx.HTTPError as error:
            raise BackendUnavailable(str(error)) from error
        body = response.json()
        return ChatToken(token=body["token"], expires_at=body["expires_at"])

    async def orders(self, chat_token: str) -> list[dict[str, Any]]:
        orders: list[dict[str, Any]] = await self._get(
            "/api/v1/orders", headers={"X-Buyer-Token": chat_token}
        )
        return orders
