"""An in-memory dispute backend with the same interface as the HTTP client.

It applies the rules the actions depend on the way the real backend does (tests/contract
runs the same cases against both): eligibility in the backend's order, a typed refusal with
the backend's problem slug and status for each reason, versions, refund checks, evidence
limits, idempotency keys per buyer and per request, chat tokens bound to one conversation,
lists newest first. Every result goes through the client's own `from_json`, from the JSON
shape the backend sends, and every refusal through the client's own `refusal`, from the
status and problem slug, so a parsing mistake shows here as it would in production.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from actions.backend_client import (
    CHANNEL_IDENTITY,
    BackendError,
    Buyer,
    ChannelBackend,
    Credential,
    Dispute,
    DisputeBackend,
    Eligibility,
    EvidenceFile,
    HandoffTicket,
    LinkAttempt,
    NewDispute,
    Order,
    ProtectionWindow,
    refusal,
)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
NEGOTIATION = timedelta(days=5)
CHAT_TOKEN_TTL = timedelta(hours=12)
MAX_EVIDENCE_FILES = 20
MAX_EVIDENCE_BYTES = 10 * 1024 * 1024

# The backend's words for each reason (rules.REASON_SENTENCES), shown to buyers as details.
REASON_SENTENCES = {
    "eligible": "You can open a dispute on this order.",
    "no_tracking_yet": (
        "The seller has not added a tracking number yet, so the protection period has not "
        "started; a dispute can be opened once it has."
    ),
    "protection_expired": (
        "The protection period for this order has ended, so a dispute can no longer be opened."
    ),
    "dispute_already_open": "A dispute is already in progress for this order.",
    "order_already_resolved": (
        "A dispute on this order has already ended with a decision; the payment is settled."
    ),
    "account_closed": "This account was closed after an investigation.",
}
# reason code -> HTTP status, as the backend's errors.py maps them
REFUSALS = {
    "no_tracking_yet": 422,
    "protection_expired": 422,
    "dispute_already_open": 409,
    "order_already_resolved": 409,
    "account_closed": 403,
}
# The first bytes of each file type the backend accepts (it sniffs the bytes, not the name).
MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"%PDF-")


def make_order(order_id: str = "8123456789012345", **changes: object) -> Order:
    order = Order(
        id=order_id,
        title="Wireless earbuds",
        amount=Decimal("40.00"),
        currency="USD",
        seller_name="Shenzhen Audio",
        shipping_status="delivered",
        tracking_number="LP00123456789CN",
        shipping_deadline="2026-11-20T00:00:00+00:00",
        receipt_confirmed_at="2026-11-21T10:00:00+00:00",
        payment_status="held",
        window=ProtectionWindow("2026-11-01T00:00:00+00:00", "2026-12-06T10:00:00+00:00", True),
        active_dispute_id=None,
    )
    return replace(order, **changes)  # type: ignore[arg-type]


def money(amount: Decimal | None) -> str | None:
    return None if amount is None else str(Decimal(amount).quantize(Decimal("0.01")))


def refused(problem: str, status: int, detail: str) -> BackendError:
    """The backend's refusal, as the HTTP client reads one: its class from the status and
    the problem type, so the fake cannot disagree with the client about which it is."""
    return refusal(str(status), status, problem, detail)


def is_allowed_file(content: bytes) -> bool:
    return content.startswith(MAGIC) or (len(content) >= 12 and content[4:8] == b"ftyp")


class InMemoryDisputeBackend(DisputeBackend):
    def __init__(self, tokens: dict[str, str] | None = None) -> None:
        self.tokens = tokens or {"token-alice": "alice"}  # chat token -> buyer id
        self.token_conversations: dict[str, str] = {}  # a token counts in one conversation
        self.token_expiry: dict[str, datetime] = {}  # tokens issued with `issue_token`
        self.now = NOW
        self.chat_token_ttl = CHAT_TOKEN_TTL
        self.orders_by_buyer: dict[str, list[Order]] = {}  # in the order they were placed
        self.disputes_by_buyer: dict[str, list[Dispute]] = {}  # in the order they were opened
        self.under_review: set[str] = set()
        self.closed_accounts: set[str] = set()
        self.down = False
        self.calls: list[tuple[str, str]] = []
        self.keys: dict[tuple[str, str], tuple[tuple[object, ...], dict[str, Any]]] = {}
        self.evidence: list[tuple[str, str, EvidenceFile]] = []  # (dispute, description, file)
        self.max_evidence_files = MAX_EVIDENCE_FILES
        self.max_evidence_bytes = MAX_EVIDENCE_BYTES

    # --- who calls -------------------------------------------------------------------

    def issue_token(self, buyer_id: str, conversation_id: str | None = None) -> str:
        """A chat token as the storefront gets one: for one buyer, expiring, bound to
        `conversation_id` or else to the first conversation that uses it."""
        token = f"token-{buyer_id}-{len(self.tokens) + 1}"
        self.tokens[token] = buyer_id
        self.token_expiry[token] = self.now + self.chat_token_ttl
        if conversation_id is not None:
            self.token_conversations[token] = conversation_id
        return token

    def _buyer(self, buyer: Credential, call: str) -> str:
        """The buyer the credential proves: a known chat token, used in its own
        conversation and not expired, or a channel identity (`identity:<conversation>`,
        what the Rasa server's signature stands for here) of a linked account, registered
        in `tokens` under `channel:<conversation>`."""
        token = buyer.proof
        if buyer.kind == CHANNEL_IDENTITY:
            if token != f"identity:{buyer.conversation_id}":
                raise refused(
                    "channel-identity-invalid",
                    401,
                    "Missing, invalid or expired channel identity",
                )
            token = f"channel:{buyer.conversation_id}"
        self._called(call, token)
        if buyer.kind == CHANNEL_IDENTITY and token not in self.tokens:
            raise refused(
                "channel-account-not-linked",
                401,
                "This channel account is not linked to a buyer",
            )
        expires = self.token_expiry.get(token)
        if token not in self.tokens or (expires is not None and self.now >= expires):
            raise refused(
                "buyer-token-invalid",
                401,
                "Missing, invalid or expired chat token",
            )
        if buyer.kind != CHANNEL_IDENTITY:
            bound = self.token_conversations.setdefault(token, buyer.conversation_id)
            if bound != buyer.conversation_id:
                raise refused(
                    "buyer-token-invalid",
                    401,
                    "The chat token belongs to another conversation.",
                )
        return self.tokens[token]

    def _called(self, call: str, key: str) -> None:
        """Records the call, and fails it as the backend does when it is down."""
        self.calls.append((call, key))
        if self.down:
            raise refused("service-unavailable", 503, "backend down")

    def _idempotent(
        self, buyer_id: str, key: str, request: tuple[object, ...]
    ) -> dict[str, Any] | None:
        """The first answer to this buyer's key, if it was for the same request."""
        found = self.keys.get((buyer_id, key))
        if found is None:
            return None
        if found[0] != request:
            raise refused(
                "idempotency-key-reused",
                422,
                "This Idempotency-Key was used for a different request.",
            )
        return found[1]

    # --- orders ------------------------------------------------------------------------

    def add_order(self, buyer_id: str, order: Order) -> Order:
        self.orders_by_buyer.setdefault(buyer_id, []).append(order)
        return order

    def add_orders(self, buyer_id: str, titles: dict[str, str]) -> None:
        """The buyer's orders by number and title, in that order; the rest as `make_order`."""
        for order_id, title in titles.items():
            self.add_order(buyer_id, make_order(order_id, title=title))

    def me(self, buyer: Credential) -> Buyer:
        buyer_id = self._buyer(buyer, "me")
        return Buyer(id=buyer_id, name=buyer_id.title(), under_review=buyer_id in self.under_review)

    def _order_json(self, buyer_id: str, order: Order) -> dict[str, Any]:
        active = next((d.id for d in self._on_order(buyer_id, order.id) if d.in_progress), None)
        w = order.window
        window = (
            None
            if order.tracking_number is None
            else {
                "starts_at": w.starts_at,
                "ends_at": w.ends_at,
                "is_open": w.is_open,
            }
        )
        return {
            "id": order.id,
            "title": order.title,
            "amount": money(order.amount),
            "currency": order.currency,
            "seller": {"id": "shop", "name": order.seller_name},
            "shipping_status": order.shipping_status,
            "tracking_number": order.tracking_number,
            "shipping_deadline": order.shipping_deadline,
            "receipt_confirmed_at": order.receipt_confirmed_at,
            "payment_status": order.payment_status,
            "protection_window": window,
            "active_dispute_id": active,
        }

    def _find_order(self, buyer_id: str, order_id: str) -> Order:
        for order in self.orders_by_buyer.get(buyer_id, []):
            if order.id == order_id:
                return order
        raise refused("order-not-found", 404, f"No order {order_id} in your account.")

    def orders(self, buyer: Credential) -> list[Order]:
        buyer_id = self._buyer(buyer, "orders")
        placed = reversed(self.orders_by_buyer.get(buyer_id, []))  # newest first
        return [Order.from_json(self._order_json(buyer_id, o)) for o in placed]

    def order(self, buyer: Credential, order_id: str) -> Order:
        buyer_id = self._buyer(buyer, "order")
        found = self._find_order(buyer_id, order_id)
        return Order.from_json(self._order_json(buyer_id, found))

    def _on_order(self, buyer_id: str, order_id: str) -> list[Dispute]:
        return [d for d in self.disputes_by_buyer.get(buyer_id, []) if d.order_id == order_id]

    def _ineligible(self, buyer_id: str, order: Order) -> tuple[str | None, str | None]:
        """(reason code or None, the dispute in progress): the backend's checks, in its order."""
        disputes = self._on_order(buyer_id, order.id)
        active = next((d.id for d in disputes if d.in_progress), None)
        resolved = any(
            not d.in_progress and (d.resolution or {}).get("how") != "cancellation"
            for d in disputes
        )
        if buyer_id in self.closed_accounts:
            return "account_closed", active
        if active:
            return "dispute_already_open", active
        if resolved or order.payment_status == "refunded":
            return "order_already_resolved", active
        if order.tracking_number is None:
            return "no_tracking_yet", active
        if not order.window.is_open or order.payment_status == "released":
            return "protection_expired", active
        return None, active

    def eligibility(self, buyer: Credential, order_id: str) -> Eligibility:
        buyer_id = self._buyer(buyer, "eligibility")
        order = self._find_order(buyer_id, order_id)
        code, active = self._ineligible(buyer_id, order)
        has_window = order.tracking_number is not None
        return Eligibility.from_json(
            {
                "order_id": order_id,
                "eligible": code is None,
                "reason_code": code or "eligible",
                "reason": REASON_SENTENCES[code or "eligible"],
                "window_starts_at": order.window.starts_at if has_window else None,
                "window_ends_at": order.window.ends_at if has_window else None,
                "active_dispute_id": active,
            }
        )

    # --- disputes ----------------------------------------------------------------------

    def _dispute_json(self, dispute: Dispute) -> dict[str, Any]:
        ended = not dispute.in_progress
        proposal = None
        if dispute.refund_amount is not None:
            proposal = {
                "party": "buyer",
                "refund_amount": money(dispute.refund_amount),
                "with_return": bool(dispute.with_return),
                "status": dispute.proposal_status or "pending",
                "decided_at": dispute.proposal_decided_at,
            }
        actions = (
            ["send_message"]
            if ended
            else ["modify_proposal", "cancel", "upload_evidence", "send_message"]
        )
        titles = {o.id: o.title for placed in self.orders_by_buyer.values() for o in placed}
        return {
            "id": dispute.id,
            "order_id": dispute.order_id,
            "currency": dispute.currency,
            "order_title": titles.get(dispute.order_id, ""),
            "reason": dispute.reason,
            "state": dispute.state,
            "status_label": "Dispute ended" if ended else "Dispute in progress",
            "resolution": dispute.resolution or None,
            "proposals": {"buyer": proposal, "seller": None, "platform": None},
            "deadlines": dispute.deadlines,
            "version": dispute.version,
            "next_actions": list(dispute.next_actions) or actions,
        }

    def _check_refund(self, amount: Decimal, order: Order, outcome: str | None = None) -> None:
        problem = None
        if amount <= 0:
            problem = "The refund amount must be more than zero."
        elif amount > order.amount:
            problem = "The refund cannot be more than the order amount."
        elif outcome == "full_refund" and amount != order.amount:
            problem = "A full refund is the order amount."
        elif outcome == "partial_refund" and amount >= order.amount:
            problem = "A partial refund is less than the order amount."
        if problem:
            raise refused("invalid-refund-amount", 422, problem)

    def open_dispute(
        self, buyer: Credential, dispute: NewDispute, *, idempotency_key: str
    ) -> Dispute:
        buyer_id = self._buyer(buyer, "open_dispute")
        sent = dispute.to_json()  # what the HTTP client sends (a zero amount: none)
        amount = None if sent["refund_amount"] is None else Decimal(sent["refund_amount"])
        # The same request again: the same body, its amount read as a number.
        request = ("open", *{**sent, "refund_amount": money(amount)}.items())
        replayed = self._idempotent(buyer_id, idempotency_key, request)
        if replayed is not None:
            return Dispute.from_json(replayed)
        order = self._find_order(buyer_id, dispute.order_id)
        code, _ = self._ineligible(buyer_id, order)
        if code is not None:
            raise refused(code.replace("_", "-"), REFUSALS[code], REASON_SENTENCES[code])
        if dispute.reason == "not_received" and order.shipping_status == "in_customs":
            raise refused(
                "package-in-customs",
                422,
                "The package is held in customs: that is a matter for the carrier.",
            )
        if amount is None and dispute.requested_outcome == "partial_refund":
            raise refused("invalid-refund-amount", 422, "A partial refund needs a refund_amount.")
        amount = order.amount if amount is None else amount
        self._check_refund(amount, order, dispute.requested_outcome)
        created = Dispute(
            id=f"D-{10001 + sum(len(v) for v in self.disputes_by_buyer.values())}",
            order_id=dispute.order_id,
            reason=dispute.reason,
            state="negotiation",
            status_label="Dispute in progress",
            version=1,
            refund_amount=amount,
            currency=order.currency,
            with_return=dispute.with_return,
            deadlines={"negotiation_ends_at": (self.now + NEGOTIATION).isoformat()},
        )
        self.disputes_by_buyer.setdefault(buyer_id, []).append(created)
        answer = self._dispute_json(created)
        self.keys[(buyer_id, idempotency_key)] = (request, answer)
        return Dispute.from_json(answer)

    def disputes(self, buyer: Credential, *, order_id: str | None = None) -> list[Dispute]:
        buyer_id = self._buyer(buyer, "disputes")
        opened = reversed(self.disputes_by_buyer.get(buyer_id, []))  # newest first
        return [
            Dispute.from_json(self._dispute_json(d))
            for d in opened
            if order_id is None or d.order_id == order_id
        ]

    def _change(
        self,
        buyer: Credential,
        dispute_id: str,
        version: int,
        key: str,
        request: tuple[object, ...],
        refund_amount: Decimal | None = None,
        **changes: object,
    ) -> Dispute:
        """A buyer's write to a dispute, checked in the backend's order: the proof, the key,
        the dispute, its version, its state, the amount."""
        buyer_id = self._buyer(buyer, "change")
        replayed = self._idempotent(buyer_id, key, request)
        if replayed is not None:
            return Dispute.from_json(replayed)
        items = self.disputes_by_buyer.get(buyer_id, [])
        index = next((i for i, d in enumerate(items) if d.id == dispute_id), None)
        if index is None:
            raise refused("dispute-not-found", 404, f"No dispute {dispute_id}.")
        current = items[index]
        if current.version != version:
            raise refused(
                "version-conflict",
                412,
                f"The dispute is at version {current.version}, not {version}.",
            )
        if not current.in_progress:
            raise refused(
                "transition-not-allowed",
                409,
                "The dispute has ended; it can no longer be changed.",
            )
        if refund_amount is not None:
            self._check_refund(refund_amount, self._find_order(buyer_id, current.order_id))
            changes["refund_amount"] = refund_amount
        items[index] = replace(current, version=version + 1, **changes)  # type: ignore[arg-type]
        answer = self._dispute_json(items[index])
        self.keys[(buyer_id, key)] = (request, answer)
        return Dispute.from_json(answer)

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
        request = ("modify", dispute_id, version, money(refund_amount), with_return)
        return self._change(
            buyer,
            dispute_id,
            version,
            idempotency_key,
            request,
            refund_amount=refund_amount,
            with_return=with_return,
        )

    def cancel_dispute(
        self, buyer: Credential, dispute_id: str, *, version: int, idempotency_key: str
    ) -> Dispute:
        resolution = {
            "how": "cancellation",
            "outcome": "cancelled",
            "refund_amount": "0.00",
            "with_return": False,
            "decided_at": self.now.isoformat(),
        }
        return self._change(
            buyer,
            dispute_id,
            version,
            idempotency_key,
            ("cancel", dispute_id, version),
            state="ended",
            status_label="Dispute ended",
            resolution=resolution,
        )

    def settle(self, buyer_id: str, dispute_id: str) -> None:
        """The seller accepts the buyer's proposal: the dispute ends, the buyer is refunded."""
        items = self.disputes_by_buyer[buyer_id]
        index = next(i for i, d in enumerate(items) if d.id == dispute_id)
        dispute = items[index]
        order = self._find_order(buyer_id, dispute.order_id)
        amount = dispute.refund_amount or order.amount
        outcome = "full_refund" if amount >= order.amount else "partial_refund"
        items[index] = replace(
            dispute,
            state="ended",
            status_label="Dispute ended",
            version=dispute.version + 1,
            resolution={
                "how": "agreement",
                "outcome": outcome,
                "refund_amount": money(amount),
                "with_return": bool(dispute.with_return),
                "decided_at": self.now.isoformat(),
            },
        )
        orders = self.orders_by_buyer[buyer_id]
        orders[orders.index(order)] = replace(order, payment_status="refunded")

    # --- human handoff ---

    def _handoff_state(self) -> dict[str, HandoffTicket]:
        if not hasattr(self, "handoffs"):
            self.handoffs: dict[str, HandoffTicket] = {}  # conversation id -> open ticket
            self.handoff_requests: list[dict[str, object]] = []
            self.operators_online = 1
        return self.handoffs

    def request_handoff(
        self,
        conversation_id: str,
        *,
        channel: str,
        reason: str,
        buyer: Credential | None,
        idempotency_key: str,
    ) -> HandoffTicket:
        handoffs = self._handoff_state()
        self._called("request_handoff", conversation_id)
        self.handoff_requests.append(
            {
                "conversation_id": conversation_id,
                "channel": channel,
                "reason": reason,
                "buyer": buyer,
                "idempotency_key": idempotency_key,
            }
        )
        if conversation_id in handoffs:
            return replace(handoffs[conversation_id], created=False)
        position = sum(1 for t in handoffs.values() if t.state == "waiting") + 1
        online = self.operators_online
        ticket = HandoffTicket.from_json(
            {
                "ticket_id": len(self.handoff_requests),
                "state": "waiting",
                "created": True,
                "position": position,
                "estimated_wait_minutes": max(1, position * 6 // max(1, online)),
                "operators_online": online,
                "expected_when": None if online else "within 24 hours",
                "operator_name": None,
            }
        )
        handoffs[conversation_id] = ticket
        return ticket

    def active_handoff(self, conversation_id: str) -> HandoffTicket | None:
        handoffs = self._handoff_state()
        self._called("active_handoff", conversation_id)
        return handoffs.get(conversation_id)

    def withdraw_handoff(self, conversation_id: str) -> HandoffTicket | None:
        handoffs = self._handoff_state()
        self._called("withdraw_handoff", conversation_id)
        ticket = handoffs.get(conversation_id)
        if ticket is None:
            return None
        if ticket.state == "assigned":
            raise refused("ticket-already-claimed", 409, "Another operator claimed it first")
        del handoffs[conversation_id]
        return replace(ticket, state="closed", position=None)


class InMemoryChannelBackend(InMemoryDisputeBackend, ChannelBackend):
    """The fake with the messaging channels' calls: linking an account, adding evidence."""

    def __init__(self, tokens: dict[str, str] | None = None) -> None:
        super().__init__(tokens)
        self.codes: dict[str, tuple[str, str]] = {}  # account -> (buyer id, code)
        self.attempts: dict[str, int] = {}
        self.rate_limited = False
        self.link_code = "654321"
        self.emails = {"alice@example.com": "alice"}

    def _account(self, account: Credential) -> str:
        assert account.kind == CHANNEL_IDENTITY
        assert account.proof == f"identity:{account.conversation_id}"
        return account.conversation_id

    def request_link_code(self, account: Credential, email: str) -> None:
        if self.rate_limited:
            raise refused("link-code-rate-limited", 429, "Too many codes asked for")
        if email in self.emails:
            self.codes[self._account(account)] = (self.emails[email], self.link_code)
        self.attempts[self._account(account)] = 0

    def link_account(self, account: Credential, code: str) -> LinkAttempt:
        name = self._account(account)
        buyer_id, expected = self.codes.get(name, ("", ""))
        self.attempts[name] = self.attempts.get(name, 0) + 1
        left = 5 - self.attempts[name]
        if left < 0:
            return LinkAttempt(linked=False, problem="link-code-attempts-exceeded")
        if not buyer_id or code != expected:
            return LinkAttempt(linked=False, problem="link-code-wrong", attempts_left=left)
        self.tokens[f"channel:{name}"] = buyer_id
        return LinkAttempt(linked=True, buyer_name=buyer_id.title())

    def unlink_account(self, account: Credential) -> None:
        self.tokens.pop(f"channel:{self._account(account)}", None)

    def add_evidence(
        self,
        buyer: Credential,
        dispute_id: str,
        file: EvidenceFile,
        *,
        description: str,
        idempotency_key: str,
    ) -> None:
        """Checked in the backend's order: the proof, the dispute, the file's type and size,
        the key, then the dispute's state and how many files it holds."""
        buyer_id = self._buyer(buyer, "add_evidence")
        dispute = next(
            (d for d in self.disputes_by_buyer.get(buyer_id, []) if d.id == dispute_id), None
        )
        if dispute is None:
            raise refused("dispute-not-found", 404, f"No dispute {dispute_id}.")
        if not is_allowed_file(file.content):
            raise refused(
                "evidence-type-not-allowed",
                415,
                "Allowed files: JPEG, PNG, GIF, PDF and MP4.",
            )
        if len(file.content) > self.max_evidence_bytes:
            raise refused("evidence-too-large", 413, "The file is too large.")
        request = ("evidence", dispute_id, file.content, description, file.filename)
        if self._idempotent(buyer_id, idempotency_key, request) is not None:
            return
        if not dispute.in_progress:
            raise refused(
                "transition-not-allowed",
                409,
                "Evidence can be added only while the dispute is open.",
            )
        if sum(1 for d, _, _ in self.evidence if d == dispute_id) >= self.max_evidence_files:
            raise refused(
                "evidence-limit-reached",
                409,
                f"A dispute holds at most {self.max_evidence_files} files.",
            )
        self.evidence.append((dispute_id, description, file))
        self.keys[(buyer_id, idempotency_key)] = (request, {"dispute_id": dispute_id})
