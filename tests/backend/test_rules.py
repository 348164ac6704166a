"""R1-R9 as pure functions, at their boundaries."""

from __future__ import annotations

import ast
import inspect
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from dispute_backend import enums, rules
from dispute_backend.enums import (
    DisputeReason,
    DisputeState,
    PaymentStatus,
    RequestedOutcome,
    ShippingStatus,
)


def test_rules_and_enums_know_nothing_of_the_orm() -> None:
    """The pure rules and their enums import neither the models nor SQLAlchemy."""
    for module in (rules, enums):
        tree = ast.parse(inspect.getsource(module))
        imported = {
            node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
        } | {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
        assert "models" not in imported and not any(m.startswith("sqlalchemy") for m in imported)


RS = rules.RuleSettings()
T0 = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def window(receipt: datetime | None = T0, tracking: datetime | None = T0 - 5 * DAY):
    return rules.protection_window(
        tracking_added_at=tracking,
        receipt_confirmed_at=receipt,
        shipping_deadline=T0 + 10 * DAY,
        rules=RS,
    )


def test_r1_no_window_before_tracking() -> None:
    assert window(tracking=None) is None


def test_r1_starts_when_tracking_is_added() -> None:
    w = window()
    assert w is not None
    assert w.starts_at == T0 - 5 * DAY
    assert not w.is_open(T0 - 5 * DAY - timedelta(seconds=1))
    assert w.is_open(T0 - 5 * DAY)


def test_r1_day_15_after_receipt_is_inside_day_16_is_outside() -> None:
    w = window()
    assert w is not None
    assert w.ends_at == T0 + 15 * DAY
    assert w.is_open(T0 + 15 * DAY)
    assert not w.is_open(T0 + 16 * DAY)
    assert not w.is_open(T0 + 15 * DAY + timedelta(seconds=1))


def test_r1_without_receipt_ends_15_days_after_shipping_deadline() -> None:
    w = window(receipt=None)
    assert w is not None
    assert w.ends_at == T0 + 25 * DAY


def test_r1_confirming_receipt_later_moves_the_end() -> None:
    early, late = window(receipt=T0), window(receipt=T0 + 3 * DAY)
    assert early is not None and late is not None
    assert late.ends_at - early.ends_at == 3 * DAY


def verdict(**overrides: object) -> rules.Ineligible | None:
    args: dict[str, object] = {
        "window": window(),
        "now": T0 + DAY,
        "has_active_dispute": False,
        "has_resolved_dispute": False,
        "payment_status": PaymentStatus.held,
        "account_closed": False,
    }
    args.update(overrides)
    return rules.eligibility(**args)  # type: ignore[arg-type]


def test_eligible_inside_the_window() -> None:
    assert verdict() is None


def test_eligibility_reasons() -> None:
    assert verdict(window=None) is rules.Ineligible.no_tracking_yet
    assert verdict(now=T0 + 16 * DAY) is rules.Ineligible.protection_expired
    assert verdict(now=T0 + 15 * DAY) is None
    assert verdict(has_active_dispute=True) is rules.Ineligible.dispute_already_open
    assert verdict(has_resolved_dispute=True) is rules.Ineligible.order_already_resolved
    assert verdict(payment_status=PaymentStatus.refunded) is rules.Ineligible.order_already_resolved
    assert verdict(account_closed=True) is rules.Ineligible.account_closed
    # Released at the end of the period: even a clock read a moment before it is too late.
    released = verdict(now=T0 + 15 * DAY, payment_status=PaymentStatus.released)
    assert released is rules.Ineligible.protection_expired


def test_r3_mediation_after_exactly_5_days() -> None:
    end = rules.negotiation_ends_at(T0, RS)
    assert end == T0 + 5 * DAY
    assert not rules.due_for_mediation(DisputeState.negotiation, end, end - timedelta(seconds=1))
    assert rules.due_for_mediation(DisputeState.negotiation, end, end)
    assert not rules.due_for_mediation(DisputeState.mediation, end, end + DAY)
    assert not rules.due_for_mediation(DisputeState.ended, end, end + DAY)


def test_r6_cancelled_dispute_keeps_payment_until_protection_ends() -> None:
    w = window()
    assert w is not None
    held = PaymentStatus.held
    inside = rules.due_for_release(
        payment_status=held, window=w, has_active_dispute=False, now=w.ends_at
    )
    after = rules.due_for_release(
        payment_status=held, window=w, has_active_dispute=False, now=w.ends_at + DAY
    )
    assert not inside and after


def test_r6_r8_no_release_while_a_dispute_is_in_progress_or_without_window() -> None:
    w = window()
    assert w is not None
    late = w.ends_at + 30 * DAY
    assert not rules.due_for_release(
        payment_status=PaymentStatus.held, window=w, has_active_dispute=True, now=late
    )
    assert not rules.due_for_release(
        payment_status=PaymentStatus.held, window=None, has_active_dispute=False, now=late
    )
    assert not rules.due_for_release(
        payment_status=PaymentStatus.refunded, window=w, has_active_dispute=False, now=late
    )


def test_r8_customs_is_for_the_carrier() -> None:
    nr, customs = DisputeReason.not_received, ShippingStatus.in_customs
    assert rules.not_received_blocked_by_customs(nr, customs)
    assert not rules.not_received_blocked_by_customs(nr, ShippingStatus.in_transit)
    assert not rules.not_received_blocked_by_customs(DisputeReason.damaged, customs)


def nr_due(**overrides: object) -> bool:
    args: dict[str, object] = {
        "reason": DisputeReason.not_received,
        "state": DisputeState.mediation,
        "mediation_started_at": T0,
        "shipping_status": ShippingStatus.in_transit,
        "now": T0 + 10 * DAY,
        "rules": RS,
    }
    args.update(overrides)
    return rules.due_for_not_received_refund(**args)  # type: ignore[arg-type]


def test_r8_platform_refunds_after_carrier_response_time() -> None:
    assert nr_due()
    assert not nr_due(now=T0 + 10 * DAY - timedelta(seconds=1))
    assert not nr_due(shipping_status=ShippingStatus.delivered)
    assert not nr_due(reason=DisputeReason.damaged)
    assert not nr_due(state=DisputeState.negotiation)


@pytest.mark.parametrize(
    ("disputes", "purchases", "expected"),
    [(25, 30, True), (24, 30, True), (23, 30, False), (8, 10, True), (7, 10, False), (9, 9, False)],
)
def test_r9_abuse_threshold(disputes: int, purchases: int, expected: bool) -> None:
    assert rules.needs_abuse_review(disputes=disputes, purchases=purchases, rules=RS) is expected


@pytest.mark.parametrize(
    ("amount", "requested", "problem"),
    [
        ("0", None, rules.RefundProblem.not_positive),
        ("-1", None, rules.RefundProblem.not_positive),
        ("40.01", None, rules.RefundProblem.above_order_amount),
        ("40.00", None, None),
        ("0.01", None, None),
        ("39.00", RequestedOutcome.full_refund, rules.RefundProblem.full_must_equal_amount),
        ("40.00", RequestedOutcome.partial_refund, rules.RefundProblem.partial_must_be_less),
        ("39.99", RequestedOutcome.partial_refund, None),
    ],
)
def test_refund_amounts(
    amount: str, requested: RequestedOutcome | None, problem: rules.RefundProblem | None
) -> None:
    assert rules.check_refund(Decimal(amount), Decimal("40.00"), requested) is problem


def test_allowed_transitions_by_state() -> None:
    n, m, e = DisputeState.negotiation, DisputeState.mediation, DisputeState.ended
    assert [rules.can_buyer_change(s) for s in (n, m, e)] == [True, True, False]
    assert [rules.can_seller_respond(s) for s in (n, m, e)] == [True, True, False]
    assert [rules.can_platform_decide(s) for s in (n, m, e)] == [False, True, False]
    assert [rules.can_add_evidence(s) for s in (n, m, e)] == [True, True, False]
    assert rules.status_label(e) == "Dispute ended"
    assert rules.status_label(n) == rules.status_label(m) == "Dispute in progress"
