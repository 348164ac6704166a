from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from ..models import ActorType, Event


def record(
    session: Session,
    *,
    now: datetime,
    actor_type: ActorType,
    actor_id: str,
    kind: str,
    dispute_id: int | None = None,
    order_id: str | None = None,
    buyer_id: str | None = None,
    data: dict[str, Any] | None = None,
) -> Event:
    event = Event(
        occurred_at=now,
        actor_type=actor_type,
        actor_id=actor_id,
        kind=kind,
        dispute_id=dispute_id,
        order_id=order_id,
        buyer_id=buyer_id,
        data=data or {},
    )
    session.add(event)
    return event
