"""The append-only event log: who did what, when, to which dispute, order or buyer.

Services say what happened with `on_dispute`, `on_order` or `on_buyer` and an `Actor`; the
event is filed under the dispute, its order and its buyer alike, so each history reads whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from ..enums import ActorType
from ..models import Dispute, Event, Order


@dataclass(frozen=True)
class Actor:
    """Who caused an event: a buyer, seller or operator by id, or a part of the system."""

    type: ActorType
    id: str

    @classmethod
    def buyer(cls, buyer_id: str) -> Actor:
        return cls(ActorType.buyer, buyer_id)

    @classmethod
    def seller(cls, seller_id: str) -> Actor:
        return cls(ActorType.seller, seller_id)

    @classmethod
    def operator(cls, operator_id: str) -> Actor:
        return cls(ActorType.operator, operator_id)


SCHEDULER = Actor(ActorType.system, "scheduler")
PAYMENTS = Actor(ActorType.system, "payments")
ABUSE_CHECK = Actor(ActorType.system, "abuse-check")


def on_dispute(
    session: Session,
    dispute: Dispute,
    kind: str,
    *,
    actor: Actor,
    now: datetime,
    data: dict[str, Any] | None = None,
) -> Event:
    """An event of a dispute, filed under its order and buyer too."""
    return _add(session, actor, kind, now, data, dispute.id, dispute.order_id, dispute.buyer_id)


def on_order(
    session: Session,
    order: Order,
    kind: str,
    *,
    actor: Actor,
    now: datetime,
    data: dict[str, Any] | None = None,
) -> Event:
    """An event of an order outside any dispute (the payment released after protection)."""
    return _add(session, actor, kind, now, data, None, order.id, order.buyer_id)


def on_buyer(
    session: Session,
    buyer_id: str,
    kind: str,
    *,
    actor: Actor,
    now: datetime,
    data: dict[str, Any] | None = None,
) -> Event:
    """An event of a buyer's account (abuse reviews)."""
    return _add(session, actor, kind, now, data, None, None, buyer_id)


def _add(
    session: Session,
    actor: Actor,
    kind: str,
    now: datetime,
    data: dict[str, Any] | None,
    dispute_id: int | None,
    order_id: str | None,
    buyer_id: str | None,
) -> Event:
    event = Event(
        occurred_at=now,
        actor_type=actor.type,
        actor_id=actor.id,
        kind=kind,
        dispute_id=dispute_id,
        order_id=order_id,
        buyer_id=buyer_id,
        data=data or {},
    )
    session.add(event)
    return event
