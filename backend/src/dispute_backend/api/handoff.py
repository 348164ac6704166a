"""Human handoff: the assistant opens tickets, the operator console works the queue.

The assistant calls with `Bearer ASSISTANT_SERVICE_TOKEN` (and the buyer's chat token when
the conversation has one); the console with `Bearer CONSOLE_SERVICE_TOKEN` + `X-Operator-Id`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from .. import errors
from ..auth import (
    OperatorDep,
    ProvenBuyerDep,
    SessionDep,
    require_assistant,
    require_console,
)
from ..enums import TicketState
from ..models import HandoffTicket, Operator
from ..services import handoff, throttle
from . import schemas as s
from . import views
from .common import ConversationId, IdempotencyKey, IntId, idempotent, throttle_settings
from .deps import CurrentOperator, Now, OperatorWrite, OperatorWriteContext, Queue, Rules

assistant_router = APIRouter(
    prefix="/api/v1/handoff",
    tags=["handoff"],
    responses=s.PROBLEM_RESPONSES,
    dependencies=[Depends(require_assistant)],
)
console_router = APIRouter(
    prefix="/api/v1/operator", tags=["operator handoff"], responses=s.PROBLEM_RESPONSES
)


# --- the assistant -------------------------------------------------------------------------


@assistant_router.post("/tickets", response_model=s.TicketStatus, status_code=201)
def request_handoff(
    request: Request,
    body: s.HandoffRequest,
    session: SessionDep,
    proven: ProvenBuyerDep,
    at: Now,
    qs: Queue,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Open the conversation's ticket, or answer with the one already open (200)."""
    existing = handoff.open_ticket(session, conversation_id=body.conversation_id)
    if existing is not None:
        status = views.ticket_status_out(session, existing, created=False, now=at, qs=qs)
        return JSONResponse(status.model_dump(mode="json"))
    # A proof counts only for the conversation it was given for.
    buyer_id = proven.buyer_id if proven.conversation_id == body.conversation_id else None

    def action() -> s.TicketStatus:
        ticket, created = handoff.request_handoff(
            session,
            conversation_id=body.conversation_id,
            channel=body.channel,
            reason=body.reason,
            buyer_id=buyer_id,
            now=at,
        )
        return views.ticket_status_out(session, ticket, created=created, now=at, qs=qs)

    return idempotent(
        request,
        session,
        principal=f"assistant:{body.conversation_id}"[:80],
        key=idempotency_key,
        payload=body,
        action=action,
        status_code=201,
    )


@assistant_router.get("/conversations/{conversation_id}/ticket", response_model=s.TicketStatus)
def active_ticket(
    conversation_id: ConversationId, session: SessionDep, at: Now, qs: Queue
) -> s.TicketStatus:
    """The conversation's waiting or assigned ticket; 404 when it has none."""
    ticket = handoff.open_ticket(session, conversation_id=conversation_id)
    if ticket is None:
        raise errors.TicketNotFound("This conversation has no open handoff.")
    return views.ticket_status_out(session, ticket, created=False, now=at, qs=qs)


@assistant_router.post(
    "/conversations/{conversation_id}/ticket/withdraw", response_model=s.TicketStatus
)
def withdraw_handoff(
    conversation_id: ConversationId, session: SessionDep, at: Now, qs: Queue
) -> s.TicketStatus:
    """The buyer no longer needs a person: their waiting ticket is closed as withdrawn.
    404 when the conversation has none open; 409 once an operator has claimed it."""
    ticket = handoff.withdraw(session, conversation_id=conversation_id, now=at)
    status = views.ticket_status_out(session, ticket, created=False, now=at, qs=qs)
    session.commit()
    return status


# --- the console ---------------------------------------------------------------------------


@console_router.post(
    "/verify-password",
    response_model=s.OperatorOut,
    dependencies=[Depends(require_console)],
    responses={429: s.problem_response("Too many failed sign-ins, or too many at once")},
)
def verify_password(
    request: Request, body: s.PasswordCheck, session: SessionDep, at: Now, qs: Queue
) -> s.OperatorOut:
    """The console's login: checks the password (Argon2id) and marks the operator online.

    Failed tries are counted per operator id and per client address; over the limit, or with
    every check slot busy, the answer is 429 with Retry-After and no hash is computed."""
    ts = throttle_settings(request)
    address = body.client_address or (request.client.host if request.client else "unknown")
    limits = {
        throttle.operator_key(body.operator_id): ts.failures_per_operator,
        throttle.client_key(address): ts.failures_per_client,
    }
    throttle.check(session, keys=list(limits), now=at)
    slot = throttle.take_slot(session, now=at, ts=ts)
    stored = handoff.stored_hash(session, operator_id=body.operator_id)
    session.commit()  # the hash runs outside any transaction: no lock is held meanwhile
    try:
        matches = handoff.password_matches(stored, body.password)
    finally:
        throttle.free_slot(session, slot=slot)
        session.commit()
    if not matches:
        throttle.record_failure(session, limits=limits, now=at, ts=ts)
        session.commit()
        raise errors.InvalidCredentials("Wrong operator id or password.")
    operator = handoff.signed_in(session, operator_id=body.operator_id, password=body.password)
    throttle.forget(session, key=throttle.operator_key(operator.id))
    handoff.set_presence(session, operator=operator, online=True, now=at)
    session.commit()
    return views.operator_out(operator, now=at, qs=qs)


@console_router.post("/presence", response_model=s.OperatorOut)
def presence(
    body: s.Presence, operator_ctx: OperatorDep, session: SessionDep, at: Now, qs: Queue
) -> s.OperatorOut:
    """The console's heartbeat (online) and logout (offline); naturally idempotent."""
    operator = operator_ctx.load(session)  # a write loads in the route's thread (deps.py)
    handoff.set_presence(session, operator=operator, online=body.online, now=at)
    session.commit()
    return views.operator_out(operator, now=at, qs=qs)


@console_router.get("/operators", response_model=list[s.OperatorOut])
def operators(_: CurrentOperator, session: SessionDep, at: Now, qs: Queue) -> list[s.OperatorOut]:
    rows = session.scalars(select(Operator).order_by(Operator.id)).all()
    return [views.operator_out(o, now=at, qs=qs) for o in rows]


@console_router.get("/handoff/tickets", response_model=s.QueueOut)
def list_tickets(
    _: CurrentOperator,
    session: SessionDep,
    at: Now,
    qs: Queue,
    state: Annotated[list[TicketState] | None, Query()] = None,
) -> s.QueueOut:
    """The queue: waiting (oldest first) and assigned tickets, unless `state` says otherwise."""
    states = state or list(handoff.OPEN_STATES)
    online = handoff.operators_online(session, now=at, qs=qs)
    tickets = [views.ticket_out(session, t) for t in handoff.queue(session, states=states)]
    return s.QueueOut(operators_online=online, tickets=tickets)


@console_router.get(
    "/handoff/closed-conversations",
    response_model=list[s.ClosedConversation],
    dependencies=[Depends(require_console)],
)
def closed_conversations(
    session: SessionDep,
    at: Now,
    within_seconds: Annotated[int, Query(ge=1, le=7 * 86400)] = 86400,
) -> list[s.ClosedConversation]:
    """Conversations whose last ticket closed in the last `within_seconds` and that have no
    open ticket: the console checks that none of them was left paused in Rasa."""
    since = at - timedelta(seconds=within_seconds)
    rows = handoff.closed_conversations(session, since=since)
    return [s.ClosedConversation(conversation_id=c, closed_at=closed) for c, closed in rows]


@console_router.get("/handoff/tickets/{ticket_id}", response_model=s.TicketDetail)
def get_ticket(
    ticket_id: IntId, _: CurrentOperator, session: SessionDep, at: Now, rs: Rules
) -> s.TicketDetail:
    """A ticket with its buyer, their orders and disputes, and the stored transcript."""
    t = handoff.get(session, ticket_id=ticket_id)
    return views.ticket_detail_out(session, t, now=at, rs=rs)


def _ticket_change(
    w: OperatorWriteContext, payload: object, change: Callable[[], HandoffTicket]
) -> JSONResponse:
    """Run a ticket transition once per Idempotency-Key and answer with the ticket."""
    return w.run(payload, lambda: views.ticket_out(w.session, change()))


@console_router.post("/handoff/tickets/{ticket_id}/claim", response_model=s.TicketOut)
def claim(ticket_id: IntId, w: OperatorWrite) -> JSONResponse:
    """Take a waiting ticket. Of two operators claiming at once exactly one wins; the other
    gets 409 `ticket-already-claimed`."""
    return _ticket_change(
        w,
        {"claim": ticket_id},
        lambda: handoff.claim(w.session, ticket_id=ticket_id, operator=w.operator, now=w.now),
    )


@console_router.post("/handoff/tickets/{ticket_id}/release", response_model=s.TicketOut)
def release(ticket_id: IntId, w: OperatorWrite) -> JSONResponse:
    """Put one's ticket back in the queue, in its original place."""
    return _ticket_change(
        w,
        {"release": ticket_id},
        lambda: handoff.release(w.session, ticket_id=ticket_id, operator=w.operator, now=w.now),
    )


@console_router.post("/handoff/tickets/{ticket_id}/transfer", response_model=s.TicketOut)
def transfer(ticket_id: IntId, body: s.Transfer, w: OperatorWrite) -> JSONResponse:
    """Hand one's ticket to another operator."""
    operator = w.operator
    target = w.session.get(Operator, body.operator_id)
    if target is None:
        raise errors.ValidationFailed(f"No operator {body.operator_id}.")
    return _ticket_change(
        w,
        body,
        lambda: handoff.transfer(
            w.session, ticket_id=ticket_id, operator=operator, to=target, now=w.now
        ),
    )


@console_router.post("/handoff/tickets/{ticket_id}/close", response_model=s.TicketOut)
def close(ticket_id: IntId, w: OperatorWrite) -> JSONResponse:
    """Close one's ticket (or a waiting one); the conversation goes back to the bot."""
    return _ticket_change(
        w,
        {"close": ticket_id},
        lambda: handoff.close(w.session, ticket_id=ticket_id, operator=w.operator, now=w.now),
    )


@console_router.post(
    "/handoff/tickets/{ticket_id}/messages", response_model=s.TicketMessageOut, status_code=201
)
def post_message(ticket_id: IntId, body: s.OperatorMessage, w: OperatorWrite) -> JSONResponse:
    """Record the assigned operator's reply in the transcript (the console delivers it)."""
    return w.run(
        body,
        lambda: views.ticket_message_out(
            handoff.operator_message(
                w.session, ticket_id=ticket_id, operator=w.operator, body=body.body, now=w.now
            )
        ),
        status_code=201,
    )


@console_router.post(
    "/handoff/tickets/{ticket_id}/user-messages", response_model=list[s.TicketMessageOut]
)
def post_user_messages(ticket_id: IntId, body: s.UserMessages, w: OperatorWrite) -> JSONResponse:
    """Store the buyer's messages of the human part, as read from the conversation, before
    the ticket is closed: by its holder (or anyone while it waits), each (text, time) once;
    a retry with the same Idempotency-Key replays the first answer."""

    def action() -> s.StoredMessages:
        added = handoff.user_messages(
            w.session,
            ticket_id=ticket_id,
            operator=w.operator,
            bodies=[(m.body, m.at) for m in body.messages],
        )
        return s.StoredMessages([views.ticket_message_out(m) for m in added])

    return w.run(body, action)
