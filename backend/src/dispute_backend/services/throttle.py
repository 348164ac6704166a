"""Console sign-in throttling, shared by every process through the database.

Each password check costs an Argon2 hash, so a flood of tries is a lever on the CPU: failed
tries are counted per operator id and per client address, a key over its limit is refused
for a while, and only a few checks run at once (slots with a lease). A refused try computes
no hash.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import errors
from ..models import LoginThrottle, PasswordCheckSlot


@dataclass(frozen=True)
class ThrottleSettings:
    failures_per_operator: int = 5
    failures_per_client: int = 20
    window_seconds: int = 900
    block_seconds: int = 900
    concurrent_checks: int = 4
    check_lease_seconds: int = 30


@dataclass(frozen=True)
class Slot:
    number: int
    holder: str


def operator_key(operator_id: str) -> str:
    return f"operator:{operator_id}"[:120]


def client_key(address: str) -> str:
    return f"client:{address}"[:120]


def _seconds_until(at: datetime, now: datetime) -> int:
    return max(1, math.ceil((at - now).total_seconds()))


def check(session: Session, *, keys: list[str], now: datetime) -> None:
    """LoginThrottled (with retry_after) when any key is refused at the moment."""
    stmt = select(LoginThrottle.blocked_until).where(
        LoginThrottle.key.in_(keys), LoginThrottle.blocked_until > now
    )
    until = [at for at in session.scalars(stmt) if at is not None]
    if until:
        wait = _seconds_until(max(until), now)
        raise errors.LoginThrottled(
            f"Too many failed sign-ins: try again in {math.ceil(wait / 60)} minutes.",
            retry_after=wait,
        )


def take_slot(session: Session, *, now: datetime, ts: ThrottleSettings) -> Slot:
    """A free check slot (or one whose lease ran out); LoginThrottled when all are busy."""
    holder = uuid.uuid4().hex
    lease = now + timedelta(seconds=ts.check_lease_seconds)
    stmt = select(PasswordCheckSlot).where(PasswordCheckSlot.slot < ts.concurrent_checks)
    known = {row.slot: row for row in session.scalars(stmt)}
    for number in range(ts.concurrent_checks):
        row = known.get(number)
        if row is None and _insert_slot(session, number, holder, lease):
            return Slot(number, holder)
        if row is not None and _claim_slot(session, number, holder, lease, now):
            return Slot(number, holder)
    raise errors.LoginThrottled("Too many sign-ins at this moment: try again.", retry_after=1)


def _insert_slot(session: Session, number: int, holder: str, lease: datetime) -> bool:
    try:
        with session.begin_nested():
            session.add(PasswordCheckSlot(slot=number, holder=holder, taken_until=lease))
            session.flush()
    except IntegrityError:  # another process created it first, and holds it
        return False
    return True


def _claim_slot(session: Session, number: int, holder: str, lease: datetime, now: datetime) -> bool:
    """One conditional UPDATE: of two processes after the same free slot, one wins."""
    free = or_(PasswordCheckSlot.taken_until.is_(None), PasswordCheckSlot.taken_until <= now)
    stmt = (
        update(PasswordCheckSlot)
        .where(PasswordCheckSlot.slot == number, free)
        .values(holder=holder, taken_until=lease)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(session.execute(stmt), "rowcount", 0) == 1)


def free_slot(session: Session, *, slot: Slot) -> None:
    stmt = (
        update(PasswordCheckSlot)
        .where(PasswordCheckSlot.slot == slot.number, PasswordCheckSlot.holder == slot.holder)
        .values(holder=None, taken_until=None)
        .execution_options(synchronize_session=False)
    )
    session.execute(stmt)


def _row(session: Session, key: str, now: datetime) -> LoginThrottle:
    """The key's row, locked until the transaction ends (PostgreSQL; SQLite has one writer)."""
    row = session.get(LoginThrottle, key, with_for_update=True, populate_existing=True)
    if row is not None:
        return row
    try:
        with session.begin_nested():
            row = LoginThrottle(key=key, failures=0, window_started_at=now, blocked_until=None)
            session.add(row)
            session.flush()
        return row
    except IntegrityError:  # a concurrent failure created it first
        row = session.get(LoginThrottle, key, with_for_update=True, populate_existing=True)
        assert row is not None
        return row


def record_failure(
    session: Session, *, limits: dict[str, int], now: datetime, ts: ThrottleSettings
) -> None:
    """Count one failed try against each key; a key reaching its limit is refused for
    `block_seconds` and starts counting again afterwards."""
    window = timedelta(seconds=ts.window_seconds)
    for key, limit in sorted(limits.items()):  # the same order everywhere: no deadlock
        row = _row(session, key, now)
        if row.window_started_at <= now - window:
            row.failures, row.window_started_at = 0, now
        row.failures += 1
        if row.failures >= limit:
            row.blocked_until = now + timedelta(seconds=ts.block_seconds)
            row.failures, row.window_started_at = 0, now
    forget_stale(session, now=now, ts=ts)
    session.flush()


def forget(session: Session, *, key: str) -> None:
    """A right password clears its operator's count (not the address's)."""
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == key))


def forget_stale(session: Session, *, now: datetime, ts: ThrottleSettings) -> None:
    """Rows whose window and block are over say nothing any more: keep the table small."""
    stale = now - timedelta(seconds=ts.window_seconds)
    # SKIP LOCKED: a row another sign-in is counting right now is left to a later pass.
    keys = session.scalars(
        select(LoginThrottle.key)
        .where(
            LoginThrottle.window_started_at < stale,
            or_(LoginThrottle.blocked_until.is_(None), LoginThrottle.blocked_until <= now),
        )
        .with_for_update(skip_locked=True)
    ).all()
    if keys:
        session.execute(delete(LoginThrottle).where(LoginThrottle.key.in_(keys)))
