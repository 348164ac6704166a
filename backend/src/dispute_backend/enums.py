"""The domain's enumerations: plain `StrEnum`s that the pure rules, the services, the
schemas and the ORM (models.py) all use. Nothing here knows about the database."""

from __future__ import annotations

from enum import StrEnum


class ShippingStatus(StrEnum):
    awaiting_shipment = "awaiting_shipment"
    in_transit = "in_transit"
    in_customs = "in_customs"
    delivered = "delivered"


class PaymentStatus(StrEnum):
    held = "held"
    released = "released"
    refunded = "refunded"


class AccountStatus(StrEnum):
    active = "active"
    closed = "closed"


class DisputeReason(StrEnum):
    damaged = "damaged"
    not_as_described = "not_as_described"
    wrong_item = "wrong_item"
    counterfeit = "counterfeit"
    missing_parts = "missing_parts"
    not_received = "not_received"


class RequestedOutcome(StrEnum):
    full_refund = "full_refund"
    partial_refund = "partial_refund"


class DisputeState(StrEnum):
    negotiation = "negotiation"
    mediation = "mediation"
    ended = "ended"


class Outcome(StrEnum):
    full_refund = "full_refund"
    partial_refund = "partial_refund"
    no_refund = "no_refund"
    cancelled = "cancelled"


class Resolution(StrEnum):
    agreement = "agreement"
    platform_decision = "platform_decision"
    cancellation = "cancellation"
    timeout = "timeout"


class Party(StrEnum):
    buyer = "buyer"
    seller = "seller"
    platform = "platform"


class ProposalStatus(StrEnum):
    pending = "pending"
    accepted = "accepted"
    rejected = "rejected"
    superseded = "superseded"


class ActorType(StrEnum):
    buyer = "buyer"
    seller = "seller"
    operator = "operator"
    system = "system"


class ReviewStatus(StrEnum):
    open = "open"
    cleared = "cleared"
    account_closed = "account_closed"


class TicketState(StrEnum):
    waiting = "waiting"
    assigned = "assigned"
    closed = "closed"


class TicketOutcome(StrEnum):
    """How a closed ticket ended: an operator closed it, or the buyer no longer needed one."""

    handled = "handled"
    withdrawn = "withdrawn"


class TicketParty(StrEnum):
    user = "user"
    operator = "operator"
    system = "system"
