"""What the contract cases share: refusals checked by type, problem, status and detail."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from actions.backend_client import BackendError, Credential, Dispute, NewDispute
from tests.contract.worlds import World


def refusal(call: Callable[[], Any]) -> BackendError:
    with pytest.raises(BackendError) as info:
        call()
    return info.value


def assert_refused(
    call: Callable[[], Any], kind: type[BackendError], problem: str, status: int
) -> BackendError:
    """The call fails with exactly this exception class, problem slug and status, and a
    detail a buyer could be shown."""
    error = refusal(call)
    assert (type(error), error.problem, error.status) == (kind, problem, status), error
    assert error.detail
    return error


def key() -> str:
    return uuid.uuid4().hex


def request(
    order_id: str,
    *,
    reason: str = "damaged",
    outcome: str = "full_refund",
    amount: str | None = None,
    description: str = "It arrived broken.",
) -> NewDispute:
    refund = Decimal(amount) if amount is not None else None
    return NewDispute(order_id, reason, outcome, refund, False, description)


def open_dispute(
    world: World,
    buyer: Credential,
    order_id: str,
    *,
    idempotency_key: str = "",
    **fields: str | None,
) -> Dispute:
    """Open a dispute on the order with `request(order_id, **fields)`, under a fresh
    Idempotency-Key unless one is given."""
    return world.backend.open_dispute(
        buyer, request(order_id, **fields), idempotency_key=idempotency_key or key()
    )


def open_on(world: World, buyer: Credential, situation: str = "eligible") -> Dispute:
    return open_dispute(world, buyer, world.order(buyer, situation))


def buyer_and_dispute(world: World) -> tuple[Credential, Dispute]:
    """A new buyer, and the dispute it opened on an eligible order of its own."""
    buyer = world.buyer()
    return buyer, open_on(world, buyer)


def change(
    world: World,
    buyer: Credential,
    dispute_id: str,
    version: int,
    amount: str,
    with_return: bool = False,
    idempotency_key: str = "",
) -> Dispute:
    """The buyer's proposal changed to a refund of `amount`, under a fresh Idempotency-Key
    unless one is given."""
    return world.backend.modify_proposal(
        buyer,
        dispute_id,
        version=version,
        refund_amount=Decimal(amount),
        with_return=with_return,
        idempotency_key=idempotency_key or key(),
    )


def cancel(world: World, buyer: Credential, dispute_id: str, version: int) -> Dispute:
    return world.backend.cancel_dispute(buyer, dispute_id, version=version, idempotency_key=key())
