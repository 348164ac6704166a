"""An in-memory dispute backend with the same interface as the HTTP client.

It applies the few rules the actions depend on (ownership, eligibility,
versions) so action tests exercise real decisions without a server.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from actions.backend_client import (
    BackendUnavailable,
    Buyer,
    BuyerNotIdentified,
    Conflict,
    Dispute,
    DisputeBackend,
    Eligibility,
    HandoffTicket,
    NewDispute,
    NotFound,
    Order,
    ProtectionWindow,
    Refused,
)


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


class InMemoryDisputeBackend(DisputeBackend):
    def __init__(self, tokens: dict[str, str] | None = None) -> None:
        self.tokens = tokens or {"token-alice": "alice"}  # chat token -> buyer id
        self.orders_by_buyer: dict[str, list[Order]] = {}
        self.disputes_by_buyer: dict[str, list[Dispute]] = {}
        self.under_review: set[str] = set()
        self.down = False
        self.calls: list[tuple[str, str]] = []
        self.keys: dict[str, Dispute] = {}

    def _buyer(self, token: str, call: str) -> str:
        self.calls.append((call, token))
        if self.down:
            raise BackendUnavailable("backend down", status=503)
        if token not in self.tokens:
            raise BuyerNotIdentified("bad token", problem="buyer-token-invalid", status=401)
        return self.tokens[token]

    def add_order(self, buyer_id: str, order: Order) -> Order:
        self.orders_by_buyer.setdefault(buyer_id, []).append(order)
        return order

    def me(self, buyer: str) -> Buyer:
        buyer_id = self._buyer(buyer, "me")
        return Buyer(id=buyer_id, name=buyer_id.title(), under_review=buyer_id in self.under_review)

    def orders(self, buyer: str) -> list[Order]:
        # Each with its dispute in progress, as the real backend lists them.
        return [
            self.order(buyer, o.id)
            for o in self.orders_by_buyer.get(self._buyer(buyer, "orders"), [])
        ]

    def order(self, buyer: str, order_id: str) -> Order:
        for order in self.orders_by_buyer.get(self._buyer(buyer, "order"), []):
            if order.id == order_id:
                active = next(
                    (d.id for d in self._disputes(buyer, order_id) if d.in_progress), None
                )
                return replace(order, active_dispute_id=active)
        raise NotFound(f"order {order_id}", problem="order-not-found", status=404)

    def _disputes(self, buyer: str, order_id: str) -> list[Dispute]:
        buyer_id = self.tokens[buyer]
        return [d for d in self.disputes_by_buyer.get(buyer_id, []) if d.order_id == order_id]

    def eligibility(self, buyer: str, order_id: str) -> Eligibility:
        order = self.order(buyer, order_id)
        w = order.window
        if order.tracking_number is None:
            code, ok = "no_tracking_yet", False
        elif not w.is_open:
            code, ok = "protection_expired", False
        elif order.active_dispute_id:
            code, ok = "dispute_already_open", False
        else:
            code, ok = "eligible", True
        return Eligibility(ok, code, code.replace("_", " "), w.starts_at, w.ends_at,
                           order.active_dispute_id)  # fmt: skip

    def open_dispute(self, buyer: str, dispute: NewDispute, *, idempotency_key: str) -> Dispute:
        if idempotency_key in self.keys:
            return self.keys[idempotency_key]
        if not self.eligibility(buyer, dispute.order_id).eligible:
            raise Refused("not eligible", problem="not-eligible", status=422, detail="not eligible")
        order = self.order(buyer, dispute.order_id)
        buyer_id = self.tokens[buyer]
        existing = self.disputes_by_buyer.setdefault(buyer_id, [])
        created = Dispute(
            id=f"D-{10001 + sum(len(v) for v in self.disputes_by_buyer.values())}",
            order_id=dispute.order_id,
            reason=dispute.reason,
            state="negotiation",
            status_label="Dispute in progress",
            version=1,
            refund_amount=dispute.refund_amount or order.amount,
            currency=order.currency,
            with_return=dispute.with_return,
            deadlines={"negotiation_ends_at": "2026-12-03T12:00:00+00:00"},
        )
        existing.append(created)
        self.keys[idempotency_key] = created
        return created

    def disputes(self, buyer: str, *, order_id: str | None = None) -> list[Dispute]:
        buyer_id = self._buyer(buyer, "disputes")
        found = self.disputes_by_buyer.get(buyer_id, [])
        return [d for d in found if order_id is None or d.order_id == order_id]

    def _replace(self, buyer: str, dispute_id: str, version: int, **changes: object) -> Dispute:
        buyer_id = self._buyer(buyer, "change")
        items = self.disputes_by_buyer.get(buyer_id, [])
        for index, current in enumerate(items):
            if current.id == dispute_id:
                if current.version != version:
                    raise Conflict("stale", problem="version-mismatch", status=412)
                items[index] = replace(current, version=version + 1, **changes)  # type: ignore[arg-type]
                return items[index]
        raise NotFound(dispute_id, problem="dispute-not-found", status=404)

    def modify_proposal(
        self,
        buyer: str,
        dispute_id: str,
        *,
        version: int,
        refund_amount: Decimal,
        with_return: bool,
        idempotency_key: str,
    ) -> Dispute:
        return self._replace(buyer, dispute_id, version, refund_amount=refund_amount,
                             with_return=with_return)  # fmt: skip

    def cancel_dispute(
        self, buyer: str, dispute_id: str, *, version: int, idempotency_key: str
    ) -> Dispute:
        return self._replace(
            buyer,
            dispute_id,
            version,
            state="ended",
            status_label="Dispute ended",
            resolution={"how": "cancellation", "outcome": "cancelled"},
        )

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
        buyer: str | None,
        idempotency_key: str,
    ) -> HandoffTicket:
        handoffs = self._handoff_state()
        self.calls.append(("request_handoff", conversation_id))
        if self.down:
            raise BackendUnavailable("backend down", status=503)
        self.handoff_requests.append(
            {"conversation_id": conversation_id, "channel": channel, "reason": reason,
             "buyer": buyer, "idempotency_key": idempotency_key}
        )  # fmt: skip
        if conversation_id in handoffs:
            return replace(handoffs[conversation_id], created=False)
        position = sum(1 for t in handoffs.values() if t.state == "waiting") + 1
        online = self.operators_online
        ticket = HandoffTicket(
            ticket_id=len(self.handoff_requests),
            state="waiting",
            created=True,
            position=position,
            estimated_wait_minutes=max(1, position * 6 // max(1, online)),
            operators_online=online,
            expected_when=None if online else "within 24 hours",
            operator_name=None,
        )
        handoffs[conversation_id] = ticket
        return ticket

    def active_handoff(self, conversation_id: str) -> HandoffTicket | None:
        handoffs = self._handoff_state()
        self.calls.append(("active_handoff", conversation_id))
        if self.down:
            raise BackendUnavailable("backend down", status=503)
        return handoffs.get(conversation_id)
