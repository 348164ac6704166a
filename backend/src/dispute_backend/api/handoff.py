"""Human handoff: the assistant opens tickets, the operator console works the queue.

The assistant calls with `Bearer ASSISTANT_SERVICE_TOKEN` (and the buyer's chat token when
the conversation has one); the console with `Bearer CONSOLE_SERVICE_TOKEN` + `X-Operator-Id`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from .. import errors
from ..auth import OperatorDep, SessionDep, bearer, now_of, read_chat_token, same, settings_of
from ..models import Buyer, HandoffMessage, HandoffTicket, Operator, TicketState
from ..services import abuse, handoff
from ..services import disputes as dispute_svc
from ..services import orders as order_svc
from . import schemas as s
from . import views
from .common import IdempotencyKey, idempotent, now, rule_settings

log = logging.getLogger(__name__)

assistant_router = APIRouter(
    prefix="/api/v1/handoff", tags=["handoff"], responses=s.PROBLEM_RESPONSES
)
console_router = APIRouter(prefix="/api/v1/operator", tags=["operator handoff"],
                           responses=s.PROBLEM_RESPONSES)  # fmt: skip


# --- shapes --------------------------------------------------------------------------------


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HandoffRequest(Strict):
    conversation_id: str = Field(min_length=1, max_length=255)
    channel: str = Field(default="unknown", min_length=1, max_length=40)
    reason: str = Field(default="user_request", min_length=1, max_length=40)


class TicketStatus(BaseModel):
    """What the assistant tells the buyer."""

    ticket_id: int
    state: TicketState
    created: bool
    position: int | None
    estimated_wait_minutes: int
    operators_online: int
    expected_when: str | None  # said when no operator is online
    operator_id: str | None
    operator_name: str | None


class TicketOut(BaseModel):
    id: int
    conversation_id: str
    channel: str
    buyer_id: str | None
    buyer_name: str | None
    reason: str
    state: TicketState
    operator_id: str | None
    position: int | None
    created_at: datetime
    assigned_at: datetime | None
    closed_at: datetime | None
    version: int


class TicketMessageOut(BaseModel):
    id: int
    party: str
    author_id: str | None
    body: str
    created_at: datetime


class BuyerOut(BaseModel):
    id: str
    name: str
    email: str
    account_status: str
    under_review: bool


class TicketDetail(TicketOut):
    buyer: BuyerOut | None
    orders: list[s.OrderOut]
    disputes: list[s.DisputeOut]
    transcript: list[TicketMessageOut]


class QueueOut(BaseModel):
    operators_online: int
    tickets: list[TicketOut]


class PasswordCheck(Strict):
    operator_id: str = Field(min_length=1, max_length=40)
    password: str = Field(min_length=1, max_length=200)


class OperatorOut(BaseModel):
    id: str
    name: str
    email: str
    online: bool


class Presence(Strict):
    online: bool = True


class Transfer(Strict):
    operator_id: str = Field(min_length=1, max_length=40)


class OperatorMessage(Strict):
    body: str = Field(min_length=1, max_length=4000)


class UserMessage(Strict):
    body: str = Field(min_length=1, max_length=4000)
    at: datetime


class UserMessages(Strict):
    messages: list[UserMessage] = Field(max_length=500)


# --- helpers -------------------------------------------------------------------------------


def queue_settings(request: Request) -> handoff.QueueSettings:
    settings = settings_of(request)
    return handoff.QueueSettings(
        minutes_per_conversation=settings.handoff_minutes_per_conversation,
        presence_seconds=settings.handoff_presence_seconds,
        offline_answer=settings.handoff_offline_answer,
    )


async def require_assistant(request: Request) -> None:
    token = bearer(request)
    if token is None or not same(token, settings_of(request).assistant_service_token):
        raise errors.Unauthenticated("A valid assistant service token is required.")


async def require_console(request: Request) -> None:
    token = bearer(request)
    if token is None or not same(token, settings_of(request).console_service_token):
        raise errors.Unauthenticated("A valid console service token is required.")


def optional_buyer(request: Request, x_buyer_token: str | None) -> str | None:
    """The buyer named by a valid chat token; a person can help without one, so a missing or
    expired token only leaves the ticket without a buyer."""
    if not x_buyer_token:
        return None
    try:
        return read_chat_token(x_buyer_token, now=now_of(request), settings=settings_of(request))
    except errors.BuyerTokenInvalid:
        log.info("handoff: chat token invalid or expired; ticket without a buyer")
        return None


def status_out(
    request: Request, session: SessionDep, t: HandoffTicket, created: bool
) -> TicketStatus:
    qs = queue_settings(request)
    online = handoff.operators_online(session, now=now(request), qs=qs)
    pos = handoff.position(session, ticket=t)
    operator = session.get(Operator, t.operator_id) if t.operator_id else None
    return TicketStatus(
        ticket_id=t.id,
        state=t.state,
        created=created,
        position=pos,
        estimated_wait_minutes=handoff.estimated_wait_minutes(pos, online, qs),
        operators_online=online,
        expected_when=qs.offline_answer if online == 0 else None,
        operator_id=t.operator_id,
        operator_name=operator.name if operator else None,
    )


def ticket_out(session: SessionDep, t: HandoffTicket) -> TicketOut:
    buyer = views_buyer(session, t.buyer_id)
    return TicketOut(
        id=t.id,
        conversation_id=t.conversation_id,
        channel=t.channel,
        buyer_id=t.buyer_id,
        buyer_name=buyer.name if buyer else None,
        reason=t.reason,
        state=t.state,
        operator_id=t.operator_id,
        position=handoff.position(session, ticket=t),
        created_at=t.created_at,
        assigned_at=t.assigned_at,
        closed_at=t.closed_at,
        version=t.version,
    )


def views_buyer(session: SessionDep, buyer_id: str | None) -> BuyerOut | None:
    if buyer_id is None:
        return None
    buyer = session.get(Buyer, buyer_id)
    if buyer is None:
        return None
    return BuyerOut(
        id=buyer.id,
        name=buyer.name,
        email=buyer.email,
        account_status=buyer.account_status.value,
        under_review=abuse.open_review(session, buyer_id=buyer.id) is not None,
    )


def message_out(m: HandoffMessage) -> TicketMessageOut:
    return TicketMessageOut(
        id=m.id, party=m.party.value, author_id=m.author_id, body=m.body, created_at=m.created_at
    )


def operator_out(request: Request, o: Operator) -> OperatorOut:
    online = handoff.is_online(o, now=now(request), qs=queue_settings(request))
    return OperatorOut(id=o.id, name=o.name, email=o.email, online=online)


# --- the assistant -------------------------------------------------------------------------


@assistant_router.post(
    "/tickets",
    response_model=TicketStatus,
    status_code=201,
    dependencies=[Depends(require_assistant)],
)
def request_handoff(
    request: Request,
    body: HandoffRequest,
    session: SessionDep,
    idempotency_key: IdempotencyKey = None,
    x_buyer_token: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """Open the conversation's ticket, or answer with the one already open (200)."""
    existing = handoff.open_ticket(session, conversation_id=body.conversation_id)
    if existing is not None:
        return JSONResponse(status_out(request, session, existing, False).model_dump(mode="json"))
    buyer_id = optional_buyer(request, x_buyer_token)

    def action() -> TicketStatus:
        ticket, created = handoff.request_handoff(
            session,
            conversation_id=body.conversation_id,
            channel=body.channel,
            reason=body.reason,
            buyer_id=buyer_id,
            now=now(request),
        )
        return status_out(request, session, ticket, created)

    return idempotent(
        request,
        session,
        principal=f"assistant:{body.conversation_id}"[:80],
        key=idempotency_key,
        payload=body,
        action=action,
        status_code=201,
    )


@assistant_router.get(
    "/conversations/{conversation_id}/ticket",
    response_model=TicketStatus,
    dependencies=[Depends(require_assistant)],
)
def active_ticket(request: Request, conversation_id: str, session: SessionDep) -> TicketStatus:
    """The conversation's waiting or assigned ticket; 404 when it has none."""
    ticket = handoff.open_ticket(session, conversation_id=conversation_id)
    if ticket is None:
        raise errors.TicketNotFound("This conversation has no open handoff.")
    return status_out(request, session, ticket, False)


# --- the console ---------------------------------------------------------------------------


@console_router.post(
    "/verify-password", response_model=OperatorOut, dependencies=[Depends(require_console)]
)
def verify_password(request: Request, body: PasswordCheck, session: SessionDep) -> OperatorOut:
    """The console's login: checks the password (Argon2id) and marks the operator online."""
    operator = handoff.verify_password(
        session, operator_id=body.operator_id, password=body.password
    )
    handoff.set_presence(session, operator=operator, online=True, now=now(request))
    session.commit()
    return operator_out(request, operator)


@console_router.post("/presence", response_model=OperatorOut)
def presence(
    request: Request, body: Presence, operator_ctx: OperatorDep, session: SessionDep
) -> OperatorOut:
    """The console's heartbeat (online) and logout (offline); naturally idempotent."""
    operator = operator_ctx.load(session)
    handoff.set_presence(session, operator=operator, online=body.online, now=now(request))
    session.commit()
    return operator_out(request, operator)


@console_router.get("/operators", response_model=list[OperatorOut])
def operators(
    request: Request, operator_ctx: OperatorDep, session: SessionDep
) -> list[OperatorOut]:
    operator_ctx.load(session)
    rows = session.scalars(select(Operator).order_by(Operator.id)).all()
    return [operator_out(request, o) for o in rows]


@console_router.get("/handoff/tickets", response_model=QueueOut)
def list_tickets(
    request: Request,
    operator_ctx: OperatorDep,
    session: SessionDep,
    state: Annotated[list[TicketState] | None, Query()] = None,
) -> QueueOut:
    """The queue: waiting (oldest first) and assigned tickets, unless `state` says otherwise."""
    operator_ctx.load(session)
    states = state or list(handoff.OPEN_STATES)
    online = handoff.operators_online(session, now=now(request), qs=queue_settings(request))
    tickets = [ticket_out(session, t) for t in handoff.queue(session, states=states)]
    return QueueOut(operators_online=online, tickets=tickets)


@console_router.get("/handoff/tickets/{ticket_id}", response_model=TicketDetail)
def get_ticket(
    request: Request, ticket_id: int, operator_ctx: OperatorDep, session: SessionDep
) -> TicketDetail:
    """A ticket with its buyer, their orders and disputes, and the stored transcript."""
    operator_ctx.load(session)
    t = handoff.get(session, ticket_id=ticket_id)
    at, rs = now(request), rule_settings(request)
    orders: list[s.OrderOut] = []
    disputes: list[s.DisputeOut] = []
    if t.buyer_id is not None:
        rows = order_svc.list_orders(session, buyer_id=t.buyer_id)
        active = order_svc.active_disputes_by_order(session, order_ids=[o.id for o in rows])
        orders = [views.order_out(o, active_dispute=active.get(o.id), now=at, rs=rs) for o in rows]
        disputes = [
            views.dispute_out(session, d, now=at, rs=rs, next_actions=[])
            for d in dispute_svc.list_disputes(session, buyer_id=t.buyer_id)
        ]
    return TicketDetail(
        **ticket_out(session, t).model_dump(),
        buyer=views_buyer(session, t.buyer_id),
        orders=orders,
        disputes=disputes,
        transcript=[message_out(m) for m in handoff.transcript(session, ticket_id=t.id)],
    )


def _write(
    request: Request,
    session: SessionDep,
    operator: Operator,
    key: str | None,
    payload: object,
    change: Callable[[], HandoffTicket],
) -> JSONResponse:
    """Run a ticket transition once per Idempotency-Key and answer with the ticket."""
    return idempotent(
        request,
        session,
        principal=f"operator:{operator.id}",
        key=key,
        payload=payload,
        action=lambda: ticket_out(session, change()),
    )


@console_router.post("/handoff/tickets/{ticket_id}/claim", response_model=TicketOut)
def claim(
    request: Request,
    ticket_id: int,
    operator_ctx: OperatorDep,
    session: SessionDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Take a waiting ticket. Of two operators claiming at once exactly one wins; the other
    gets 409 `ticket-already-claimed`."""
    operator = operator_ctx.load(session)
    return _write(request, session, operator, idempotency_key, {"claim": ticket_id},
                  lambda: handoff.claim(session, ticket_id=ticket_id, operator=operator,
                                        now=now(request)))  # fmt: skip


@console_router.post("/handoff/tickets/{ticket_id}/release", response_model=TicketOut)
def release(
    request: Request,
    ticket_id: int,
    operator_ctx: OperatorDep,
    session: SessionDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Put one's ticket back in the queue, in its original place."""
    operator = operator_ctx.load(session)
    return _write(request, session, operator, idempotency_key, {"release": ticket_id},
                  lambda: handoff.release(session, ticket_id=ticket_id, operator=operator,
                                          now=now(request)))  # fmt: skip


@console_router.post("/handoff/tickets/{ticket_id}/transfer", response_model=TicketOut)
def transfer(
    request: Request,
    ticket_id: int,
    body: Transfer,
    operator_ctx: OperatorDep,
    session: SessionDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Hand one's ticket to another operator."""
    operator = operator_ctx.load(session)
    target = session.get(Operator, body.operator_id)
    if target is None:
        raise errors.ValidationFailed(f"No operator {body.operator_id}.")
    return _write(request, session, operator, idempotency_key, body,
                  lambda: handoff.transfer(session, ticket_id=ticket_id, operator=operator,
                                           to=target, now=now(request)))  # fmt: skip


@console_router.post("/handoff/tickets/{ticket_id}/close", response_model=TicketOut)
def close(
    request: Request,
    ticket_id: int,
    operator_ctx: OperatorDep,
    session: SessionDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Close one's ticket (or a waiting one); the conversation goes back to the bot."""
    operator = operator_ctx.load(session)
    return _write(request, session, operator, idempotency_key, {"close": ticket_id},
                  lambda: handoff.close(session, ticket_id=ticket_id, operator=operator,
                                        now=now(request)))  # fmt: skip


@console_router.post(
    "/handoff/tickets/{ticket_id}/messages", response_model=TicketMessageOut, status_code=201
)
def post_message(
    request: Request,
    ticket_id: int,
    body: OperatorMessage,
    operator_ctx: OperatorDep,
    session: SessionDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Record the assigned operator's reply in the transcript (the console delivers it)."""
    operator = operator_ctx.load(session)
    return idempotent(
        request,
        session,
        principal=f"operator:{operator.id}",
        key=idempotency_key,
        payload=body,
        status_code=201,
        action=lambda: message_out(
            handoff.operator_message(
                session, ticket_id=ticket_id, operator=operator, body=body.body, now=now(request)
            )
        ),
    )


@console_router.post(
    "/handoff/tickets/{ticket_id}/user-messages", response_model=list[TicketMessageOut]
)
def post_user_messages(
    request: Request,
    ticket_id: int,
    body: UserMessages,
    operator_ctx: OperatorDep,
    session: SessionDep,
) -> list[TicketMessageOut]:
    """Store the buyer's messages of the human part, as read from the conversation; each
    (text, time) once, so sending the same list again adds nothing."""
    operator_ctx.load(session)
    added = handoff.user_messages(
        session, ticket_id=ticket_id, bodies=[(m.body, m.at) for m in body.messages]
    )
    out = [message_out(m) for m in added]
    session.commit()
    return out
