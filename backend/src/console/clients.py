"""The console's two doors: the dispute backend (as the console, for one operator) and
Rasa's HTTP API (the conversation's tracker, and delivering what the operator says)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import quote

import httpx


class Unavailable(Exception):
    """The service did not answer, or answered with a server error."""


class Refused(Exception):
    """The backend refused (a problem+json 4xx); `detail` is safe to show an operator, and
    `retry_after` (seconds) is set when the backend said when to try again."""

    def __init__(self, status: int, slug: str, detail: str, retry_after: int | None = None) -> None:
        super().__init__(f"{status} {slug}: {detail}")
        self.status = status
        self.slug = slug
        self.detail = detail
        self.retry_after = retry_after


def _raise_for(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    if response.status_code >= 500:
        raise Unavailable(f"{response.request.url.path}: {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        body = {}
    slug = str(body.get("type", "")).rstrip("/").rsplit("/", 1)[-1]
    detail = str(body.get("detail") or body.get("title") or "")
    retry_after = response.headers.get("retry-after", "")
    raise Refused(
        response.status_code, slug, detail, int(retry_after) if retry_after.isdigit() else None
    )


class ConsoleBackend:
    """The dispute backend, authenticated with CONSOLE_SERVICE_TOKEN."""

    def __init__(self, base_url: str, service_token: str, timeout: float = 5.0) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {service_token}"},
            timeout=timeout,
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def _call(
        self,
        method: str,
        path: str,
        operator_id: str | None = None,
        *,
        key: str | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> Any:
        all_headers = dict(headers or {})
        if operator_id:
            all_headers["X-Operator-Id"] = operator_id
        if method == "POST":  # a form sent without its key is sent once, under a fresh one
            all_headers["Idempotency-Key"] = key or uuid.uuid4().hex
        try:
            response = await self._client.request(
                method, f"/api/v1{path}", headers=all_headers, **kwargs
            )
        except httpx.HTTPError as error:
            raise Unavailable(f"{method} {path}: {error}") from error
        _raise_for(response)
        return response.json()

    async def _object(
        self, method: str, path: str, operator_id: str | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """`_call` for an answer that is a JSON object."""
        return cast(dict[str, Any], await self._call(method, path, operator_id, **kwargs))

    async def _list(
        self, path: str, operator_id: str | None = None, **kwargs: Any
    ) -> list[dict[str, Any]]:
        """A GET whose answer is a JSON list of objects."""
        return cast(list[dict[str, Any]], await self._call("GET", path, operator_id, **kwargs))

    async def verify_password(
        self, operator_id: str, password: str, client_address: str
    ) -> dict[str, Any]:
        """The operator, or Refused: 401 for a wrong password, 429 (with retry_after) when
        the backend throttles sign-ins from this operator id or this address."""
        body = {"operator_id": operator_id, "password": password, "client_address": client_address}
        return await self._object("POST", "/operator/verify-password", json=body)

    async def presence(self, operator_id: str, online: bool) -> None:
        await self._call("POST", "/operator/presence", operator_id, json={"online": online})

    async def operators(self, operator_id: str) -> list[dict[str, Any]]:
        return await self._list("/operator/operators", operator_id)

    async def queue(self, operator_id: str) -> dict[str, Any]:
        return await self._object("GET", "/operator/handoff/tickets", operator_id)

    async def ticket(self, operator_id: str, ticket_id: int) -> dict[str, Any]:
        return await self._object("GET", f"/operator/handoff/tickets/{ticket_id}", operator_id)

    async def ticket_action(
        self,
        operator_id: str,
        ticket_id: int,
        action: str,
        *,
        key: str | None = None,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        path = f"/operator/handoff/tickets/{ticket_id}/{action}"
        return await self._object("POST", path, operator_id, key=key, json=body or {})

    async def user_messages(
        self, operator_id: str, ticket_id: int, messages: list[dict[str, str]], *, key: str
    ) -> None:
        """Store the buyer's lines with the ticket; refused unless this operator may close it."""
        path = f"/operator/handoff/tickets/{ticket_id}/user-messages"
        await self._call("POST", path, operator_id, key=key, json={"messages": messages})

    async def closed_conversations(self, within_seconds: int) -> list[dict[str, Any]]:
        """Conversations whose last ticket closed lately and that have none open now."""
        params = {"within_seconds": within_seconds}
        return await self._list("/operator/handoff/closed-conversations", params=params)

    async def mediated_disputes(self, operator_id: str) -> list[dict[str, Any]]:
        params = {"state": "mediation"}
        return await self._list("/operator/disputes", operator_id, params=params)

    async def decide_dispute(
        self,
        operator_id: str,
        dispute_id: str,
        *,
        version: str,
        key: str | None,
        body: dict[str, Any],
    ) -> dict[str, Any]:
        path = f"/operator/disputes/{quote(dispute_id)}/decision"
        headers = {"If-Match": f'"{version}"'}
        return await self._object("POST", path, operator_id, key=key, headers=headers, json=body)

    async def abuse_reviews(self, operator_id: str) -> list[dict[str, Any]]:
        params = {"status": "open"}
        return await self._list("/operator/abuse-reviews", operator_id, params=params)

    async def decide_review(
        self, operator_id: str, review_id: int, *, key: str | None, body: dict[str, Any]
    ) -> dict[str, Any]:
        path = f"/operator/abuse-reviews/{review_id}/decision"
        return await self._object("POST", path, operator_id, key=key, json=body)


@dataclass(frozen=True)
class Line:
    """One line of a conversation as the console shows it."""

    party: str  # user | bot | system
    text: str
    timestamp: float


class RasaApi:
    """Rasa's HTTP API (`--enable-api`, `?token=RASA_API_TOKEN`)."""

    def __init__(self, base_url: str, token: str, timeout: float = 5.0) -> None:
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout)
        self._token = token
        self._responses: dict[str, str] = {}

    async def close(self) -> None:
        await self._client.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        params = {"token": self._token, **kwargs.pop("params", {})}
        try:
            response = await self._client.request(method, path, params=params, **kwargs)
        except httpx.HTTPError as error:
            raise Unavailable(f"rasa {method} {path}: {error}") from error
        if response.status_code >= 400:
            raise Unavailable(f"rasa {method} {path}: {response.status_code}")
        return response.json()

    async def tracker(self, conversation_id: str) -> dict[str, Any]:
        path = f"/conversations/{quote(conversation_id, safe='')}/tracker"
        tracker: dict[str, Any] = await self._call("GET", path, params={"include_events": "ALL"})
        return tracker

    async def events(self, conversation_id: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = (await self.tracker(conversation_id)).get("events") or []
        return events

    async def paused_since(self, conversation_id: str) -> float | None:
        """When the conversation was paused, if it is paused now."""
        tracker = await self.tracker(conversation_id)
        if not tracker.get("paused"):
            return None
        pauses = [e for e in tracker.get("events") or [] if e.get("event") == "pause"]
        return float(pauses[-1].get("timestamp") or 0) if pauses else 0.0

    async def lines(self, conversation_id: str) -> list[Line]:
        """The user's and the bot's messages (operators' replies are bot messages)."""
        out = []
        for event in await self.events(conversation_id):
            kind, text = event.get("event"), event.get("text")
            if kind in ("user", "bot") and text:
                out.append(Line(str(kind), str(text), float(event.get("timestamp") or 0)))
            elif kind == "pause":
                out.append(Line("system", "handed to a person", float(event["timestamp"])))
            elif kind == "resume":
                out.append(Line("system", "back with the bot", float(event["timestamp"])))
        return out

    async def _append(self, conversation_id: str, event: dict[str, Any]) -> None:
        path = f"/conversations/{quote(conversation_id, safe='')}/tracker/events"
        # execute_side_effects sends bot events through the conversation's last channel.
        params = {"execute_side_effects": "true", "output_channel": "latest"}
        await self._call("POST", path, params=params, json=event)

    async def say(self, conversation_id: str, text: str) -> None:
        await self._append(conversation_id, {"event": "bot", "text": text})

    async def resume(self, conversation_id: str) -> None:
        """Back to the bot; action_listen so the next message starts a clean turn."""
        await self._append(conversation_id, {"event": "resume"})
        await self._append(conversation_id, {"event": "action", "name": "action_listen"})

    async def response_text(self, name: str, **values: str) -> str:
        """A response's first text from the running model's domain, variables filled in:
        all the text buyers read stays in domain.yml."""
        if name not in self._responses:
            domain = await self._call("GET", "/domain", headers={"Accept": "application/json"})
            for key, variants in (domain.get("responses") or {}).items():
                if variants and isinstance(variants[0], dict) and variants[0].get("text"):
                    self._responses[key] = str(variants[0]["text"])
        text = self._responses.get(name)
        if text is None:
            raise Unavailable(f"the model's domain has no response {name}")
        for key, value in values.items():
            text = text.replace("{" + key + "}", value)
        return text
