"""The only door from the actions to the dispute backend.

`DisputeBackend` is the interface the actions use; `HttpDisputeBackend` talks
to the real service with `requests`, `InMemoryDisputeBackend` (in
tests/actions) is a fake with the same interface. Every call has a timeout;
errors become a few typed exceptions carrying the backend's stable problem
type, never a raw response for the user to see.
"""

from __future__ import annotations

import abc
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from actions.settings import get_settings

logger = logging.getLogger(__name__)

CHAT_TOKEN, CHANNEL_IDENTITY = "chat-token", "channel-identity"


@dataclass(frozen=True)
class Credential:
    """What proves who the buyer is, taken from the message being answered.

    On the web, the chat token the page signed for this buyer and conversation; on
    Telegram and Messenger, the identity the channel signed after verifying the
    platform's webhook (extensions/identity.py). The backend checks the proof and that it
    belongs to `conversation_id`; nothing here names a buyer by itself.
    """

    proof: str = field(repr=False)  # a bearer secret: never in a log line
    conversation_id: str
    kind: str = CHAT_TOKEN

    def headers(self) -> dict[str, str]:
        name = "X-Channel-Identity" if self.kind == CHANNEL_IDENTITY else "X-Buyer-Token"
        return {name: self.proof, "X-Conversation-Id": self.conversation_id}


# --- errors ----------------------------------------------------------------


class BackendError(Exception):
    """The backend refused or failed a request."""

    def __init__(self, message: str, *, problem: str = "", status: int = 0, detail: str = ""):
        super().__init__(message)
        self.problem = problem  # the last part of the problem type, e.g. "not-eligible"
        self.attempts_left = 0  # link codes: how many tries remain
        self.status = status
        self.detail = detail


class BackendUnavailable(BackendError):
    """No answer in time, no connection, or a server error: try later, offer a human."""


class BuyerNotIdentified(BackendError):
    """The conversation carries no valid chat token (missing, edited or expired)."""


class ChannelAccountNotLinked(BuyerNotIdentified):
    """A Telegram or Messenger user who has not linked a marketplace account yet."""


class NotFound(BackendError):
    """No such order or dispute for this buyer (another buyer's looks the same)."""


class Refused(BackendError):
    """A rule of the marketplace forbids the request; `problem` says which."""


class Conflict(Refused):
    """The dispute changed meanwhile (stale version); read it again and retry."""


# --- results -----------------------------------------------------------------


@dataclass(frozen=True)
class ProtectionWindow:
    starts_at: str | None
    ends_at: str | None
    is_open: bool


@dataclass(frozen=True)
class Order:
    id: str
    title: str
    amount: Decimal
    currency: str
    seller_name: str
    shipping_status: str
    tracking_number: str | None
    shipping_deadline: str | None
    receipt_confirmed_at: str | None
    payment_status: str
    window: ProtectionWindow
    active_dispute_id: str | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Order:
        window = data.get("protection_window") or {}
        seller = data.get("seller") or {}
        return cls(
            id=str(data["id"]),
            title=str(data.get("title", "")),
            amount=Decimal(str(data.get("amount", "0"))),
            currency=str(data.get("currency", "")),
            seller_name=str(seller.get("name", "the seller")),
            shipping_status=str(data.get("shipping_status", "")),
            tracking_number=data.get("tracking_number"),
            shipping_deadline=data.get("shipping_deadline"),
            receipt_confirmed_at=data.get("receipt_confirmed_at"),
            payment_status=str(data.get("payment_status", "")),
            window=ProtectionWindow(
                starts_at=window.get("starts_at"),
                ends_at=window.get("ends_at"),
                is_open=bool(window.get("is_open")),
            ),
            active_dispute_id=data.get("active_dispute_id"),
        )


@dataclass(frozen=True)
class Eligibility:
    eligible: bool
    reason_code: str | None
    reason: str
    window_starts_at: str | None
    window_ends_at: str | None
    active_dispute_id: str | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Eligibility:
        return cls(
            eligible=bool(data.get("eligible")),
            reason_code=data.get("reason_code"),
            reason=str(data.get("reason") or ""),
            window_starts_at=data.get("window_starts_at"),
            window_ends_at=data.get("window_ends_at"),
            active_dispute_id=data.get("active_dispute_id"),
        )


@dataclass(frozen=True)
class Dispute:
    id: str
    order_id: str
    reason: str
    state: str
    status_label: str
    version: int
    refund_amount: Decimal | None
    currency: str
    with_return: bool | None
    resolution: dict[str, Any] = field(default_factory=dict)
    deadlines: dict[str, Any] = field(default_factory=dict)
    next_actions: tuple[str, ...] = ()
    order_title: str = ""
    # The seller's side: how they answered the buyer's proposal (pending, accepted,
    # rejected) and when, and their own counter-offer if they made one.
    proposal_status: str = ""
    proposal_decided_at: str | None = None
    seller_offer: dict[str, Any] = field(default_factory=dict)

    @property
    def in_progress(self) -> bool:
        return self.status_label == "Dispute in progress"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Dispute:
        proposal = data.get("buyer_proposal") or data.get("current_proposal") or {}
        proposals = data.get("proposals")
        if not proposal and isinstance(proposals, dict):
            proposal = proposals.get("buyer") or {}
        amount = proposal.get("refund_amount")
        return cls(
            id=str(data["id"]),
            order_id=str(data.get("order_id", "")),
            reason=str(data.get("reason", "")),
            state=str(data.get("state", "")),
            status_label=str(data.get("status_label", "")),
            version=int(data.get("version", 0)),
            refund_amount=Decimal(str(amount)) if amount is not None else None,
            currency=str(data.get("currency") or proposal.get("currency") or ""),
            with_return=proposal.get("with_return"),
            resolution=dict(data.get("resolution") or data.get("outcome") or {}),
            deadlines=dict(data.get("deadlines") or {}),
            next_actions=tuple(data.get("next_actions") or ()),
            order_title=str(data.get("order_title") or ""),
            proposal_status=str(proposal.get("status") or ""),
            proposal_decided_at=proposal.get("decided_at"),
            seller_offer=dict((proposals or {}).get("seller") or {})
            if isinstance(proposals, dict)
            else {},
        )


@dataclass(frozen=True)
class Buyer:
    id: str
    name: str
    under_review: bool


@dataclass(frozen=True)
class NewDispute:
    order_id: str
    reason: str
    requested_outcome: str  # full_refund | partial_refund
    refund_amount: Decimal | None
    with_return: bool
    description: str

    def to_json(self) -> dict[str, Any]:
        """The request's body; a refund amount of zero asks for none."""
        return {
            "order_id": self.order_id,
            "reason": self.reason,
            "requested_outcome": self.requested_outcome,
            "refund_amount": str(self.refund_amount) if self.refund_amount else None,
            "with_return": self.with_return,
            "description": self.description,
        }


@dataclass(frozen=True)
class HandoffTicket:
    """A conversation's place with the human operators."""

    ticket_id: int
    state: str  # waiting | assigned | closed
    created: bool  # False: the conversation already had this ticket open
    position: int | None
    estimated_wait_minutes: int
    operators_online: int
    expected_when: str | None  # when no operator is online: when to expect an answer
    operator_name: str | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HandoffTicket:
        position = data.get("position")
        return cls(
            ticket_id=int(data["ticket_id"]),
            state=str(data.get("state", "")),
            created=bool(data.get("created")),
            position=int(position) if position is not None else None,
            estimated_wait_minutes=int(data.get("estimated_wait_minutes") or 0),
            operators_online=int(data.get("operators_online") or 0),
            expected_when=data.get("expected_when"),
            operator_name=data.get("operator_name"),
        )


@dataclass(frozen=True)
class LinkAttempt:
    """The answer to a typed link code."""

    linked: bool
    buyer_name: str | None = None
    # when not linked: link-code-wrong | link-code-expired | link-code-attempts-exceeded
    problem: str | None = None
    attempts_left: int = 0


@dataclass(frozen=True)
class EvidenceFile:
    filename: str
    content: bytes
    content_type: str


# --- the interface -------------------------------------------------------------


class DisputeBackend(abc.ABC):
    """What the actions may ask of the backend, for one buyer at a time.

    `buyer` is the current message's credential (a chat token or a channel identity).
    """

    @abc.abstractmethod
    def me(self, buyer: Credential) -> Buyer: ...

    @abc.abstractmethod
    def orders(self, buyer: Credential) -> list[Order]: ...

    @abc.abstractmethod
    def order(self, buyer: Credential, order_id: str) -> Order: ...

    @abc.abstractmethod
    def eligibility(self, buyer: Credential, order_id: str) -> Eligibility: ...

    @abc.abstractmethod
    def open_dispute(
        self, buyer: Credential, dispute: NewDispute, *, idempotency_key: str
    ) -> Dispute: ...

    @abc.abstractmethod
    def disputes(self, buyer: Credential, *, order_id: str | None = None) -> list[Dispute]: ...

    @abc.abstractmethod
    def modify_proposal(
        self,
        buyer: Credential,
        dispute_id: str,
        *,
        version: int,
        refund_amount: Decimal,
        with_return: bool,
        idempotency_key: str,
    ) -> Dispute: ...

    @abc.abstractmethod
    def cancel_dispute(
        self, buyer: Credential, dispute_id: str, *, version: int, idempotency_key: str
    ) -> Dispute: ...

    # --- human handoff (the buyer's chat token is optional: a person can help anyone) ---

    @abc.abstractmethod
    def request_handoff(
        self,
        conversation_id: str,
        *,
        channel: str,
        reason: str,
        buyer: Credential | None,
        idempotency_key: str,
    ) -> HandoffTicket: ...

    @abc.abstractmethod
    def active_handoff(self, conversation_id: str) -> HandoffTicket | None: ...

    @abc.abstractmethod
    def withdraw_handoff(self, conversation_id: str) -> HandoffTicket | None:
        """Close the conversation's waiting ticket as withdrawn; the closed ticket, or None
        when none is open. Conflict(ticket-already-claimed) once an operator has it."""


class ChannelBackend(abc.ABC):
    """What the messaging-channel actions need besides the dispute calls: linking the
    channel account that `account` (a channel identity) proves to a buyer, and attaching a
    file to a dispute."""

    @abc.abstractmethod
    def request_link_code(self, account: Credential, email: str) -> None:
        """Asks for a code to be mailed; Refused(link-code-rate-limited) when too many."""

    @abc.abstractmethod
    def link_account(self, account: Credential, code: str) -> LinkAttempt: ...

    @abc.abstractmethod
    def unlink_account(self, account: Credential) -> None: ...

    @abc.abstractmethod
    def add_evidence(
        self,
        buyer: Credential,
        dispute_id: str,
        file: EvidenceFile,
        *,
        description: str,
        idempotency_key: str,
    ) -> None: ...


# --- over HTTP ---------------------------------------------------------------------


class HttpDisputeBackend(DisputeBackend, ChannelBackend):
    """The real backend, over HTTP, authenticated as the assistant."""

    def __init__(
        self,
        base_url: str | None = None,
        service_token: str | None = None,
        timeout: float | None = None,
    ) -> None:
        settings = get_settings()  # what is not given: read once per client
        self.base_url = (base_url or settings.backend_url).rstrip("/")
        token = service_token or settings.assistant_service_token
        self.timeout = timeout or settings.backend_timeout
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {token}"})
        # Retries only for reads: POSTs are made safe to repeat by their
        # Idempotency-Key, and the action itself is retried by Rasa if needed.
        retry = Retry(
            total=1, backoff_factor=0.1, allowed_methods={"GET"}, status_forcelist=(502, 503, 504)
        )
        self.session.mount("http://", HTTPAdapter(max_retries=retry, pool_maxsize=32))
        self.session.mount("https://", HTTPAdapter(max_retries=retry, pool_maxsize=32))

    def _request(
        self,
        method: str,
        path: str,
        buyer: Credential,
        *,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> Any:
        return self._service_request(
            method, path, headers={**buyer.headers(), **(headers or {})}, **kwargs
        )

    @staticmethod
    def _error(method: str, path: str, response: requests.Response) -> BackendError:
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        problem = str(body.get("type", "")).rstrip("/").rsplit("/", 1)[-1]
        detail = str(body.get("detail") or body.get("title") or "")
        status = response.status_code
        error = refusal(f"{method} {path} -> {status}", status, problem, detail)
        logger.info("backend refused: %s", error)
        left = body.get("attempts_left")
        if isinstance(left, int):
            error.attempts_left = left
        return error

    def me(self, buyer: Credential) -> Buyer:
        data = self._request("GET", "/api/v1/me", buyer)
        return Buyer(
            id=str(data.get("id", "")),
            name=str(data.get("name", "")),
            under_review=bool((data.get("abuse_review") or {}).get("under_review")),
        )

    def orders(self, buyer: Credential) -> list[Order]:
        data = self._request("GET", "/api/v1/orders", buyer)
        items = data.get("items", data) if isinstance(data, dict) else data
        return [Order.from_json(item) for item in items]

    def order(self, buyer: Credential, order_id: str) -> Order:
        return Order.from_json(self._request("GET", f"/api/v1/orders/{_segment(order_id)}", buyer))

    def eligibility(self, buyer: Credential, order_id: str) -> Eligibility:
        data = self._request("GET", f"/api/v1/orders/{_segment(order_id)}/eligibility", buyer)
        return Eligibility.from_json(data)

    def open_dispute(
        self, buyer: Credential, dispute: NewDispute, *, idempotency_key: str
    ) -> Dispute:
        data = self._request(
            "POST",
            "/api/v1/disputes",
            buyer,
            json=dispute.to_json(),
            headers={"Idempotency-Key": idempotency_key},
        )
        return Dispute.from_json(data)

    def disputes(self, buyer: Credential, *, order_id: str | None = None) -> list[Dispute]:
        params = {"order_id": order_id} if order_id else None
        data = self._request("GET", "/api/v1/disputes", buyer, params=params)
        items = data.get("items", data) if isinstance(data, dict) else data
        return [Dispute.from_json(item) for item in items]

    def modify_proposal(
        self,
        buyer: Credential,
        dispute_id: str,
        *,
        version: int,
        refund_amount: Decimal,
        with_return: bool,
        idempotency_key: str,
    ) -> Dispute:
        data = self._request(
            "POST",
            f"/api/v1/disputes/{_segment(dispute_id)}/proposal",
            buyer,
            json={"refund_amount": str(refund_amount), "with_return": with_return},
            headers={"Idempotency-Key": idempotency_key, "If-Match": f'"{version}"'},
        )
        return Dispute.from_json(data)

    def cancel_dispute(
        self, buyer: Credential, dispute_id: str, *, version: int, idempotency_key: str
    ) -> Dispute:
        data = self._request(
            "POST",
            f"/api/v1/disputes/{_segment(dispute_id)}/cancel",
            buyer,
            json={},
            headers={"Idempotency-Key": idempotency_key, "If-Match": f'"{version}"'},
        )
        return Dispute.from_json(data)

    # --- human handoff ---

    def _service_request(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> Any:
        """One call; a write that timed out is sent once more with the same Idempotency-Key,
        so a write the backend did commit is answered from its record instead of being
        reported to the buyer as an outage."""
        headers = headers or {}
        attempts = 2 if method != "GET" and "Idempotency-Key" in headers else 1
        for attempt in range(1, attempts + 1):
            try:
                response = self.session.request(
                    method,
                    f"{self.base_url}{path}",
                    headers=headers,
                    timeout=self.timeout,
                    **kwargs,
                )
                break
            except requests.Timeout as error:
                logger.warning("backend %s %s timed out (attempt %d)", method, path, attempt)
                if attempt == attempts:
                    raise BackendUnavailable(f"{method} {path}: timed out") from error
            except requests.RequestException as error:
                logger.warning("backend %s %s failed: %s", method, path, type(error).__name__)
                raise BackendUnavailable(f"{method} {path}: {type(error).__name__}") from error
        if response.status_code >= 400:
            raise self._error(method, path, response)
        try:
            return response.json()
        except ValueError as error:
            raise BackendUnavailable(f"{method} {path}: body is not JSON") from error

    def request_handoff(
        self,
        conversation_id: str,
        *,
        channel: str,
        reason: str,
        buyer: Credential | None,
        idempotency_key: str,
    ) -> HandoffTicket:
        headers = {"Idempotency-Key": idempotency_key}
        if buyer is not None:
            headers.update(buyer.headers())
        body = {"conversation_id": conversation_id, "channel": channel, "reason": reason}
        data = self._service_request("POST", "/api/v1/handoff/tickets", json=body, headers=headers)
        return HandoffTicket.from_json(data)

    def active_handoff(self, conversation_id: str) -> HandoffTicket | None:
        return self._conversation_ticket("GET", conversation_id, "ticket")

    def withdraw_handoff(self, conversation_id: str) -> HandoffTicket | None:
        return self._conversation_ticket("POST", conversation_id, "ticket/withdraw")

    def _conversation_ticket(
        self, method: str, conversation_id: str, action: str
    ) -> HandoffTicket | None:
        """The conversation's ticket as the backend answers; None when it has none open."""
        path = f"/api/v1/handoff/conversations/{_segment(conversation_id)}/{action}"
        try:
            return HandoffTicket.from_json(self._service_request(method, path))
        except NotFound:
            return None

    # --- messaging channels ---

    def request_link_code(self, account: Credential, email: str) -> None:
        self._service_request(
            "POST", "/api/v1/accounts/link-codes", json={"email": email}, headers=account.headers()
        )

    def link_account(self, account: Credential, code: str) -> LinkAttempt:
        try:
            data = self._service_request(
                "POST", "/api/v1/accounts/link", json={"code": code}, headers=account.headers()
            )
        except Refused as error:
            if not error.problem.startswith("link-code"):
                raise
            return LinkAttempt(
                linked=False, problem=error.problem, attempts_left=error.attempts_left
            )
        return LinkAttempt(linked=True, buyer_name=str(data.get("buyer_name") or ""))

    def unlink_account(self, account: Credential) -> None:
        path = "/api/v1/accounts/link"
        try:
            response = self.session.delete(
                f"{self.base_url}{path}", timeout=self.timeout, headers=account.headers()
            )
        except requests.RequestException as error:
            raise BackendUnavailable(f"DELETE {path}: {type(error).__name__}") from error
        if response.status_code >= 400:
            raise self._error("DELETE", path, response)

    def add_evidence(
        self,
        buyer: Credential,
        dispute_id: str,
        file: EvidenceFile,
        *,
        description: str,
        idempotency_key: str,
    ) -> None:
        self._request(
            "POST",
            f"/api/v1/disputes/{_segment(dispute_id)}/evidence",
            buyer,
            files={"file": (file.filename, file.content, file.content_type)},
            data={"description": description},
            headers={"Idempotency-Key": idempotency_key},
        )


def refusal(request: str, status: int, problem: str, detail: str) -> BackendError:
    """The error for the backend's refusal of `request`: its HTTP status and problem type
    (the last part of it, e.g. "not-eligible") say which."""
    kind: type[BackendError]
    if problem == "link-code-rate-limited":
        kind = Refused
    elif status >= 500 or status == 429:
        kind = BackendUnavailable
    elif status == 401 and problem == "channel-account-not-linked":
        kind = ChannelAccountNotLinked
    elif status == 401 and problem.startswith(("buyer", "channel-identity")):
        kind = BuyerNotIdentified  # the buyer's proof, not ours, was refused
    elif status == 401:
        kind = BackendUnavailable  # our own service token is wrong: an outage for the user
    elif status == 404:
        kind = NotFound
    elif status in (409, 412):
        kind = Conflict
    else:
        kind = Refused
    return kind(f"{request} {problem}: {detail}", problem=problem, status=status, detail=detail)


def _segment(value: str) -> str:
    """One path segment, whatever the id holds (an id typed by a buyer can hold anything)."""
    return quote(str(value), safe="")


_default_backend: DisputeBackend | None = None


def default_backend() -> DisputeBackend:
    """The process-wide HTTP client, built on first use (never at import)."""
    global _default_backend
    if _default_backend is None:
        _default_backend = HttpDisputeBackend()
    return _default_backend
