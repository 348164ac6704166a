"""The human handoff queue: tickets, their transitions, positions and wait estimates.

Every transition is one conditional UPDATE on the ticket's state (and owner), so two
operators racing for the same ticket cannot both win, on SQLite as on PostgreSQL: the
database applies the UPDATEs one after the other and only the first still matches.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import errors
from ..enums import TicketOutcome, TicketParty, TicketState
from ..models import HandoffMessage, HandoffTicket, Operator

OPEN_STATES = (TicketState.waiting, TicketState.assigned)
_hasher = PasswordHasher()


@dataclass(frozen=True)
class QueueSettings:
    minutes_per_conversation: int = 6
    presence_seconds: int = 60
    offline_answer: str = "within 24 hours"


# --- passwords and presence ----------------------------------------------------------------


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(session: Session, *, operator_id: str, password: str) -> Operator:
    """The operator if the password matches; InvalidCredentials otherwise (same answer for an
    unknown operator, so the console cannot be used to probe ids)."""
    if not password_matches(stored_hash(session, operator_id=operator_id), password):
        raise errors.InvalidCredentials("Wrong operator id or password.")
    return signed_in(session, operator_id=operator_id, password=password)


def stored_hash(session: Session, *, operator_id: str) -> str | None:
    operator = session.get(Operator, operator_id)
    return operator.password_hash if operator is not None else None


def password_matches(stored: str | None, password: str) -> bool:
    """The Argon2 check, run outside any transaction by the route (it takes a while)."""
    if not stored:
        _hasher.hash(password)  # spend the same time as a real check
        return False
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def signed_in(session: Session, *, operator_id: str, password: str) -> Operator:
    """The operator whose password matched, its hash renewed if the parameters changed."""
    operator = session.get(Operator, operator_id, populate_existing=True)
    if operator is None or not operator.password_hash:
        raise errors.InvalidCredentials("Wrong operator id or password.")
    if _hasher.check_needs_rehash(operator.password_hash):
        operator.password_hash = _hasher.hash(password)
    return operator


def set_presence(session: Session, *, operator: Operator, online: bool, now: datetime) -> None:
    operator.last_seen_at = now if online else None


def operators_online(session: Session, *, now: datetime, qs: QueueSettings) -> int:
    since = now - timedelta(seconds=qs.presence_seconds)
    stmt = select(func.count()).select_from(Operator).where(Operator.last_seen_at >= since)
    return int(session.scalar(stmt) or 0)


def is_online(operator: Operator, *, now: datetime, qs: QueueSettings) -> bool:
    seen = operator.last_seen_at
    return seen is not None and seen >= now - timedelta(seconds=qs.presence_seconds)


# --- queue figures -------------------------------------------------------------------------


def position(session: Session, *, ticket: HandoffTicket) -> int | None:
    """1 for the oldest waiting ticket; None when the ticket is not waiting."""
    if ticket.state != TicketState.waiting:
        return None
    earlier = (
        select(func.count())
        .select_from(HandoffTicket)
        .where(
            HandoffTicket.state == TicketState.waiting,
            or_(
                HandoffTicket.created_at < ticket.created_at,
                and_(HandoffTicket.created_at == ticket.created_at, HandoffTicket.id < ticket.id),
            ),
        )
    )
    return int(session.scalar(earlier) or 0) + 1


def estimated_wait_minutes(position: int | None, online: int, qs: QueueSettings) -> int:
    """position x minutes per conversation / max(1, operators online), at least 1 minute."""
    if position is None:
        return 0
    return max(1, math.ceil(position * qs.minutes_per_conversation / max(1, online)))


# --- reads ---------------------------------------------------------------------------------


def get(session: Session, *, ticket_id: int) -> HandoffTicket:
    ticket = session.get(HandoffTicket, ticket_id, populate_existing=True)
    if ticket is None:
        raise errors.TicketNotFound(f"No handoff ticket {ticket_id}.")
    return ticket


def open_ticket(session: Session, *, conversation_id: str) -> HandoffTicket | None:
    stmt = select(HandoffTicket).where(
        HandoffTicket.conversation_id == conversation_id, HandoffTicket.state.in_(OPEN_STATES)
    )
    return session.scalars(stmt.execution_options(populate_existing=True)).first()


def queue(
    session: Session, *, states: Sequence[TicketState] = OPEN_STATES
) -> Sequence[HandoffTicket]:
    stmt = (
        select(HandoffTicket)
        .where(HandoffTicket.state.in_(states))
        .order_by(HandoffTicket.created_at, HandoffTicket.id)
    )
    return session.scalars(stmt).all()


def closed_conversations(
    session: Session, *, since: datetime, limit: int = 500
) -> list[tuple[str, datetime]]:
    """(conversation, when its last ticket closed) for conversations with a ticket closed
    since `since` and none open now, most recently closed first."""
    still_open = select(HandoffTicket.conversation_id).where(HandoffTicket.state.in_(OPEN_STATES))
    last_closed = func.max(HandoffTicket.closed_at)
    stmt = (
        select(HandoffTicket.conversation_id, last_closed)
        .where(
            HandoffTicket.state == TicketState.closed,
            HandoffTicket.closed_at >= since,
            HandoffTicket.conversation_id.not_in(still_open),
        )
        .group_by(HandoffTicket.conversation_id)
        .order_by(last_closed.desc())
        .limit(limit)
    )
    return [(conversation, at) for conversation, at in session.execute(stmt) if at is not None]


def transcript(session: Session, *, ticket_id: int) -> Sequence[HandoffMessage]:
    stmt = (
        select(HandoffMessage)
        .where(HandoffMessage.ticket_id == ticket_id)
        .order_by(HandoffMessage.created_at, HandoffMessage.id)
    )
    return session.scalars(stmt).all()


# --- writes --------------------------------------------------------------------------------


def request_handoff(
    session: Session,
    *,
    conversation_id: str,
    channel: str,
    reason: str,
    buyer_id: str | None,
    now: datetime,
) -> tuple[HandoffTicket, bool]:
    """The conversation's open ticket, created if there is none; (ticket, created)."""
    existing = open_ticket(session, conversation_id=conversation_id)
    if existing is not None:
        return existing, False
    ticket = HandoffTicket(
        conversation_id=conversation_id,
        channel=channel,
        reason=reason,
        buyer_id=buyer_id,
        state=TicketState.waiting,
        created_at=now,
        version=1,
    )
    try:
        with session.begin_nested():
            session.add(ticket)
            session.flush()
    except IntegrityError:
        # A concurrent request for the same conversation created it first.
        existing = open_ticket(session, conversation_id=conversation_id)
        if existing is None:
            raise
        return existing, False
    _system_note(session, ticket, f"Handoff requested: {reason}", author_id=None, now=now)
    return ticket, True


def note(
    session: Session,
    *,
    ticket: HandoffTicket,
    party: TicketParty,
    body: str,
    author_id: str | None,
    now: datetime,
) -> HandoffMessage:
    message = HandoffMessage(
        ticket_id=ticket.id, party=party, author_id=author_id, body=body, created_at=now
    )
    session.add(message)
    session.flush()
    return message


def _system_note(
    session: Session, ticket: HandoffTicket, body: str, *, author_id: str | None, now: datetime
) -> None:
    """A line of the ticket's log written by the system (who joined, released, closed...)."""
    note(session, ticket=ticket, party=TicketParty.system, body=body, author_id=author_id, now=now)


def _transition(
    session: Session,
    ticket_id: int,
    where: Sequence[ColumnElement[bool]],
    values: Mapping[str, object],
) -> bool:
    """One conditional UPDATE; True when this call changed the ticket."""
    stmt = (
        update(HandoffTicket)
        .where(HandoffTicket.id == ticket_id, *where)
        .values(version=HandoffTicket.version + 1, **values)
        .execution_options(synchronize_session=False)
    )
    result = session.execute(stmt)
    return bool(getattr(result, "rowcount", 0) == 1)


def claim(session: Session, *, ticket_id: int, operator: Operator, now: datetime) -> HandoffTicket:
    won = _transition(
        session,
        ticket_id,
        [HandoffTicket.state == TicketState.waiting],
        {"state": TicketState.assigned, "operator_id": operator.id, "assigned_at": now},
    )
    ticket = get(session, ticket_id=ticket_id)
    if not won:
        if ticket.state == TicketState.assigned and ticket.operator_id == operator.id:
            return ticket  # claiming one's own ticket again changes nothing
        if ticket.state == TicketState.assigned:
            raise errors.TicketAlreadyClaimed(
                f"Ticket {ticket_id} was claimed by {ticket.operator_id}.",
                operator_id=ticket.operator_id,
            )
        raise errors.TransitionNotAllowed(f"Ticket {ticket_id} is {ticket.state}.")
    _system_note(session, ticket, f"{operator.name} joined", author_id=operator.id, now=now)
    return ticket


def _owned(ticket_id: int, operator: Operator) -> list[ColumnElement[bool]]:
    return [HandoffTicket.state == TicketState.assigned, HandoffTicket.operator_id == operator.id]


def _refuse(session: Session, ticket_id: int) -> errors.DomainError:
    ticket = get(session, ticket_id=ticket_id)
    if ticket.state == TicketState.assigned:
        return errors.TicketNotYours(
            f"Ticket {ticket_id} is assigned to {ticket.operator_id}.",
            operator_id=ticket.operator_id,
        )
    return errors.TransitionNotAllowed(f"Ticket {ticket_id} is {ticket.state}.")


def _operator_transition(
    session: Session,
    ticket_id: int,
    where: Sequence[ColumnElement[bool]],
    values: Mapping[str, object],
    *,
    operator: Operator,
    done: str,
    now: datetime,
) -> HandoffTicket:
    """An operator's transition of the ticket, refused unless it applies; logged as `done`."""
    if not _transition(session, ticket_id, where, values):
        raise _refuse(session, ticket_id)
    ticket = get(session, ticket_id=ticket_id)
    _system_note(session, ticket, f"{operator.name} {done}", author_id=operator.id, now=now)
    return ticket


def release(
    session: Session, *, ticket_id: int, operator: Operator, now: datetime
) -> HandoffTicket:
    """Back to the queue; it keeps its place (position is by creation time)."""
    values = {"state": TicketState.waiting, "operator_id": None, "assigned_at": None}
    return _operator_transition(
        session,
        ticket_id,
        _owned(ticket_id, operator),
        values,
        operator=operator,
        done="released it",
        now=now,
    )


def transfer(
    session: Session, *, ticket_id: int, operator: Operator, to: Operator, now: datetime
) -> HandoffTicket:
    values = {"operator_id": to.id, "assigned_at": now}
    done = f"transferred it to {to.name}"
    where = _owned(ticket_id, operator)
    return _operator_transition(
        session, ticket_id, where, values, operator=operator, done=done, now=now
    )


def close(session: Session, *, ticket_id: int, operator: Operator, now: datetime) -> HandoffTicket:
    """Close a ticket assigned to this operator, or a waiting one (e.g. answered offline)."""
    waiting_or_mine = or_(
        HandoffTicket.state == TicketState.waiting,
        and_(HandoffTicket.state == TicketState.assigned, HandoffTicket.operator_id == operator.id),
    )
    values = {"state": TicketState.closed, "closed_at": now, "outcome": TicketOutcome.handled}
    return _operator_transition(
        session, ticket_id, [waiting_or_mine], values, operator=operator, done="closed it", now=now
    )


def withdraw(session: Session, *, conversation_id: str, now: datetime) -> HandoffTicket:
    """The buyer no longer needs a person: the conversation's waiting ticket is closed as
    withdrawn. Once an operator has claimed it, it is theirs to close (the buyer's message
    reaches them): TicketAlreadyClaimed."""
    ticket = open_ticket(session, conversation_id=conversation_id)
    if ticket is None:
        raise errors.TicketNotFound("This conversation has no open handoff.")
    values = {"state": TicketState.closed, "closed_at": now, "outcome": TicketOutcome.withdrawn}
    if not _transition(session, ticket.id, [HandoffTicket.state == TicketState.waiting], values):
        ticket = get(session, ticket_id=ticket.id)
        if ticket.state == TicketState.assigned:
            raise errors.TicketAlreadyClaimed(
                f"Ticket {ticket.id} was claimed by {ticket.operator_id}.",
                operator_id=ticket.operator_id,
            )
        raise errors.TicketNotFound("This conversation has no open handoff.")
    ticket = get(session, ticket_id=ticket.id)
    _system_note(session, ticket, "The buyer withdrew the request", author_id=None, now=now)
    return ticket


def operator_message(
    session: Session, *, ticket_id: int, operator: Operator, body: str, now: datetime
) -> HandoffMessage:
    ticket = get(session, ticket_id=ticket_id)
    if ticket.state != TicketState.assigned or ticket.operator_id != operator.id:
        raise _refuse(session, ticket_id)
    return note(
        session,
        ticket=ticket,
        party=TicketParty.operator,
        body=body,
        author_id=operator.id,
        now=now,
    )


def user_messages(
    session: Session,
    *,
    ticket_id: int,
    operator: Operator,
    bodies: Sequence[tuple[str, datetime]],
) -> list[HandoffMessage]:
    """Store the buyer's messages of the human part (read from the conversation) once each.
    Only an operator who may close the ticket writes them: its holder, or anyone while it
    waits (so an empty list asks the backend whether this operator may close it)."""
    ticket = get(session, ticket_id=ticket_id)
    mine = ticket.state == TicketState.assigned and ticket.operator_id == operator.id
    if not (mine or ticket.state == TicketState.waiting):
        raise _refuse(session, ticket_id)
    known = {
        (m.body, m.created_at)
        for m in transcript(session, ticket_id=ticket_id)
        if m.party == TicketParty.user
    }
    added = []
    for body, at in bodies:
        if (body, at) in known:
            continue
        added.append(
            note(session, ticket=ticket, party=TicketParty.user, body=body, author_id=None, now=at)
        )
        known.add((body, at))
    return added
