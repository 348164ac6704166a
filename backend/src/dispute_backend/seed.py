"""Demo data, dated relative to now, built through the services so its history is real."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from . import rules
from .auth import key_digest
from .enums import DisputeReason, RequestedOutcome, ShippingStatus
from .models import (
    AbuseReview,
    Buyer,
    ChannelAccount,
    ChatSession,
    Dispute,
    Event,
    Evidence,
    HandoffMessage,
    HandoffTicket,
    IdempotencyRecord,
    LinkCode,
    Message,
    Operator,
    Order,
    Proposal,
    Seller,
)
from .services import disputes, transitions

# Demo seller API keys (documented in backend/README.md; demo data only).
SELLERS = {
    "techhub": ("TechHub Official Store", "seller-techhub-demo-key"),
    "casa": ("Casa Bonita Home", "seller-casa-demo-key"),
    "moda": ("Moda Express", "seller-moda-demo-key"),
}
OPERATORS = {
    "op-marta": ("Marta Vidal", "marta.vidal@marketplace.example"),
    "op-jordi": ("Jordi Puig", "jordi.puig@marketplace.example"),
}
# Demo console passwords (docs/handoff.md lists them); stored only as Argon2id hashes.
OPERATOR_PASSWORDS = {
    "op-marta": "marta-demo-pass",
    "op-jordi": "jordi-demo-pass",
}
BUYERS = {
    "alice": ("Alice Martin", "alice@example.com"),
    "bruno": ("Bruno Costa", "bruno@example.com"),
    "carla": ("Carla Diaz", "carla@example.com"),
    "diego": ("Diego Ferreira", "diego@example.com"),
    "erin": ("Erin Walsh", "erin@example.com"),
}


def has_data(session: Session) -> bool:
    return bool(session.scalar(select(func.count(Buyer.id))))


def ensure_operator_passwords(session: Session) -> int:
    """Give the demo operators their console password if they have none yet (a database
    seeded before the console existed); returns how many were set."""
    from .services.handoff import hash_password

    count = 0
    for oid, password in OPERATOR_PASSWORDS.items():
        operator = session.get(Operator, oid)
        if operator is not None and not operator.password_hash:
            operator.password_hash = hash_password(password)
            count += 1
    session.flush()
    return count


def wipe(session: Session) -> None:
    for model in (
        ChatSession,
        LinkCode,
        ChannelAccount,
        HandoffMessage,
        HandoffTicket,
        IdempotencyRecord,
        Event,
        Message,
        Evidence,
        Proposal,
        Dispute,
        AbuseReview,
        Order,
        Buyer,
        Seller,
        Operator,
    ):
        session.execute(delete(model))
    session.flush()


@dataclass(frozen=True)
class OrderSpec:
    id: str
    buyer: str
    seller: str
    title: str
    amount: str
    placed_days_ago: float
    tracking_days_ago: float | None
    deadline_in_days: float
    receipt_days_ago: float | None
    status: ShippingStatus


D = ShippingStatus.delivered
ORDERS = [
    # alice: the everyday cases
    OrderSpec(
        "8100000000000011", "alice", "techhub", "Wireless earbuds", "49.90", 14, 12, -2, 3, D
    ),
    OrderSpec(
        "8100000000000012",
        "alice",
        "moda",
        "Phone case",
        "9.99",
        6,
        4,
        20,
        None,
        ShippingStatus.in_transit,
    ),
    OrderSpec(
        "8100000000000013",
        "alice",
        "casa",
        "Desk lamp",
        "34.50",
        1,
        None,
        25,
        None,
        ShippingStatus.awaiting_shipment,
    ),
    # bruno: customs, expired, not received
    OrderSpec(
        "8200000000000021",
        "bruno",
        "techhub",
        "Smartwatch",
        "89.00",
        18,
        15,
        10,
        None,
        ShippingStatus.in_customs,
    ),
    OrderSpec("8200000000000022", "bruno", "casa", "Kitchen scale", "19.90", 60, 55, -42, 40, D),
    OrderSpec(
        "8200000000000023",
        "bruno",
        "moda",
        "Hiking backpack",
        "59.00",
        35,
        32,
        -3,
        None,
        ShippingStatus.in_transit,
    ),
    # carla: disputes in negotiation and in mediation
    OrderSpec(
        "8300000000000031", "carla", "techhub", "Bluetooth speaker", "39.99", 15, 12, 0, 5, D
    ),
    OrderSpec("8300000000000032", "carla", "moda", "Running shoes", "74.00", 20, 18, -5, 9, D),
    # diego: an ended dispute with a refund, and a cancelled one
    OrderSpec("8400000000000041", "diego", "casa", "Coffee grinder", "45.00", 25, 22, -12, 12, D),
    OrderSpec("8400000000000042", "diego", "techhub", "USB-C hub", "29.90", 12, 10, 0, 5, D),
]


def _order(spec: OrderSpec, now: datetime) -> Order:
    days = timedelta(days=1)
    return Order(
        id=spec.id,
        buyer_id=spec.buyer,
        seller_id=spec.seller,
        title=spec.title,
        amount=Decimal(spec.amount),
        currency="EUR",
        placed_at=now - spec.placed_days_ago * days,
        tracking_number=(f"LP{spec.id[-8:]}CN" if spec.tracking_days_ago is not None else None),
        tracking_added_at=(
            now - spec.tracking_days_ago * days if spec.tracking_days_ago is not None else None
        ),
        shipping_deadline=now + spec.deadline_in_days * days,
        receipt_confirmed_at=(
            now - spec.receipt_days_ago * days if spec.receipt_days_ago is not None else None
        ),
        shipping_status=spec.status,
        refunded_amount=Decimal("0"),
    )


def seed(session: Session, *, now: datetime, rs: rules.RuleSettings) -> None:
    _accounts_and_orders(session, now)
    buyers = {b.id: b for b in session.scalars(select(Buyer))}
    open_ = _opener(session, buyers, now, rs)
    _carla_disputes(session, open_, now)
    _diego_disputes(session, open_, now)
    _erin_disputes(session, buyers["erin"], now, rs)
    session.flush()
    transitions.apply_due(session, now=now, rs=rs)


Opener = Callable[[str, float, DisputeReason, RequestedOutcome, str | None, bool, str], Dispute]


def _accounts_and_orders(session: Session, now: datetime) -> None:
    start = now - 400 * timedelta(days=1)
    for sid, (name, key) in SELLERS.items():
        session.add(Seller(id=sid, name=name, api_key_sha256=key_digest(key), created_at=start))
    for oid, (name, email) in OPERATORS.items():
        session.add(Operator(id=oid, name=name, email=email, password_hash=None, created_at=start))
    for bid, (name, email) in BUYERS.items():
        session.add(Buyer(id=bid, name=name, email=email, created_at=start))
    session.flush()
    ensure_operator_passwords(session)
    for spec in ORDERS:
        session.add(_order(spec, now))
    _erin_orders(session, now)
    session.flush()


def _opener(
    session: Session, buyers: dict[str, Buyer], now: datetime, rs: rules.RuleSettings
) -> Opener:
    """Opens a dispute on an order, `days_ago` before `now`, for the order's buyer."""

    def open_(
        order_id: str,
        days_ago: float,
        reason: DisputeReason,
        outcome: RequestedOutcome,
        amount: str | None,
        with_return: bool,
        text: str,
    ) -> Dispute:
        order = session.get(Order, order_id)
        assert order is not None
        return disputes.open_dispute(
            session,
            buyer=buyers[order.buyer_id],
            order_id=order_id,
            reason=reason,
            requested_outcome=outcome,
            refund_amount=Decimal(amount) if amount else None,
            with_return=with_return,
            description=text,
            now=now - days_ago * timedelta(days=1),
            rs=rs,
        )

    return open_


def _carla_disputes(session: Session, open_: Opener, now: datetime) -> None:
    day = timedelta(days=1)
    # carla: negotiation, opened 2 days ago; the seller has not answered yet.
    open_(
        "8300000000000031",
        2,
        DisputeReason.damaged,
        RequestedOutcome.partial_refund,
        "15.00",
        False,
        "The speaker arrived with a cracked grille.",
    )
    # carla: opened 7 days ago, the seller rejected: mediation since 2 days ago.
    d = open_(
        "8300000000000032",
        7,
        DisputeReason.not_as_described,
        RequestedOutcome.full_refund,
        None,
        True,
        "Size 42 ordered, the shoes are a 39.",
    )
    disputes.seller_reject(
        session,
        dispute=d,
        seller_id="moda",
        expected_version=d.version,
        note="The size label says 42.",
        now=now - 6 * day,
    )


def _diego_disputes(session: Session, open_: Opener, now: datetime) -> None:
    day = timedelta(days=1)
    # diego: ended 6 days ago with a full refund agreed by the seller.
    d = open_(
        "8400000000000041",
        8,
        DisputeReason.wrong_item,
        RequestedOutcome.full_refund,
        None,
        False,
        "I received a milk frother, not a grinder.",
    )
    disputes.seller_accept(
        session, dispute=d, seller_id="casa", expected_version=d.version, now=now - 6 * day
    )
    # diego: cancelled 3 days ago; the protection period still runs, payment held.
    d = open_(
        "8400000000000042",
        4,
        DisputeReason.missing_parts,
        RequestedOutcome.partial_refund,
        "10.00",
        False,
        "The power adapter is missing.",
    )
    disputes.cancel(
        session, dispute=d, buyer_id="diego", expected_version=d.version, now=now - 3 * day
    )


ERIN_ORDERS = 30
ERIN_DISPUTES = 25


def _erin_order_id(i: int) -> str:
    return f"85000000000001{i:02d}"


def _erin_orders(session: Session, now: datetime) -> None:
    day = timedelta(days=1)
    sellers = list(SELLERS)
    for i in range(ERIN_ORDERS):
        placed = now - (300 - i * 9) * day
        session.add(
            Order(
                id=_erin_order_id(i),
                buyer_id="erin",
                seller_id=sellers[i % len(sellers)],
                title=f"Gadget bundle #{i + 1}",
                amount=Decimal("20.00") + i,
                currency="EUR",
                placed_at=placed,
                tracking_number=f"LP5000{i:04d}CN",
                tracking_added_at=placed + 2 * day,
                shipping_deadline=placed + 20 * day,
                receipt_confirmed_at=placed + 12 * day,
                shipping_status=ShippingStatus.delivered,
                refunded_amount=Decimal("0"),
            )
        )


def _erin_disputes(session: Session, erin: Buyer, now: datetime, rs: rules.RuleSettings) -> None:
    day = timedelta(days=1)
    reasons = list(DisputeReason)[:5]
    for i in range(ERIN_DISPUTES):
        order = session.get(Order, _erin_order_id(i))
        assert order is not None
        assert order.receipt_confirmed_at is not None
        opened = order.receipt_confirmed_at + day
        d = disputes.open_dispute(
            session,
            buyer=erin,
            order_id=order.id,
            reason=reasons[i % len(reasons)],
            requested_outcome=RequestedOutcome.full_refund,
            refund_amount=None,
            with_return=True,
            description="Not what I expected.",
            now=opened,
            rs=rs,
        )
        if opened + 2 * day > now:
            continue  # the newest stays in negotiation
        if i % 3 == 0:
            disputes.cancel(
                session, dispute=d, buyer_id="erin", expected_version=d.version, now=opened + day
            )
        else:
            disputes.seller_accept(
                session,
                dispute=d,
                seller_id=order.seller_id,
                expected_version=d.version,
                now=opened + 2 * day,
            )
