"""The domain's enumerations: plain `StrEnum`s that the pure rules, the services, the
schemas and the ORM (models.py) all use. Nothing here knows about the database.

Each member's value is its name."""

from __future__ import annotations

from enum import StrEnum

ShippingStatus = StrEnum(
    "ShippingStatus", ["awaiting_shipment", "in_transit", "in_customs", "delivered"]
)
PaymentStatus = StrEnum("PaymentStatus", ["held", "released", "refunded"])
AccountStatus = StrEnum("AccountStatus", ["active", "closed"])
DisputeReason = StrEnum(
    "DisputeReason",
    ["damaged", "not_as_described", "wrong_item", "counterfeit", "missing_parts", "not_received"],
)
RequestedOutcome = StrEnum("RequestedOutcome", ["full_refund", "partial_refund"])
DisputeState = StrEnum("DisputeState", ["negotiation", "mediation", "ended"])
Outcome = StrEnum("Outcome", ["full_refund", "partial_refund", "no_refund", "cancelled"])
Resolution = StrEnum("Resolution", ["agreement", "platform_decision", "cancellation", "timeout"])
Party = StrEnum("Party", ["buyer", "seller", "platform"])
ProposalStatus = StrEnum("ProposalStatus", ["pending", "accepted", "rejected", "superseded"])
ActorType = StrEnum("ActorType", ["buyer", "seller", "operator", "system"])
ReviewStatus = StrEnum("ReviewStatus", ["open", "cleared", "account_closed"])
TicketState = StrEnum("TicketState", ["waiting", "assigned", "closed"])
TicketOutcome = StrEnum("TicketOutcome", ["handled", "withdrawn"])
# The API's schema (/openapi.json) shows it as the enumeration's description.
TicketOutcome.__doc__ = (
    "How a closed ticket ended: an operator closed it, or the buyer no longer needed one."
)
TicketParty = StrEnum("TicketParty", ["user", "operator", "system"])
