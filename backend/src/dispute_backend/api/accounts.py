"""Account linking for messaging channels, called by the assistant only.

Every route acts for the channel account that `X-Channel-Identity` proves: the identity the
Rasa server signed once Telegram's or Messenger's webhook was verified, used in that
account's own conversation (`X-Conversation-Id: telegram:12345`), with
`Bearer ASSISTANT_SERVICE_TOKEN`. Asking for a code answers 202 whether or not the e-mail
belongs to a buyer, and the mail is written after the answer has gone, so neither the body
nor the timing tells the two apart.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from .. import errors
from ..auth import (
    ChannelIdentityHeader,
    ConversationHeader,
    SessionDep,
    read_channel_identity,
    require_assistant,
    settings_of,
)
from ..models import Buyer
from ..services import accounts
from . import schemas as s
from .deps import Now

router = APIRouter(
    prefix="/api/v1/accounts", tags=["account linking"], responses=s.PROBLEM_RESPONSES
)


async def require_channel_account(
    request: Request,
    at: Now,
    x_channel_identity: ChannelIdentityHeader = None,
    x_conversation_id: ConversationHeader = None,
) -> tuple[str, str]:
    await require_assistant(request)
    settings = settings_of(request)
    if not x_channel_identity:
        raise errors.ChannelIdentityInvalid("The X-Channel-Identity header is missing.")
    channel, external_id = read_channel_identity(x_channel_identity, now=at, settings=settings)
    if x_conversation_id != f"{channel}:{external_id}":
        raise errors.ChannelIdentityInvalid("The identity belongs to another conversation.")
    return channel, external_id


ChannelAccountDep = Annotated[tuple[str, str], Depends(require_channel_account)]


class CodeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(min_length=3, max_length=200, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class CodeSent(BaseModel):
    """Said for any well-formed e-mail: a code was sent if the e-mail has an account."""

    sent: bool = True
    expires_in_seconds: int


class CodeCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=20)


class LinkOut(BaseModel):
    channel: str
    external_id: str
    buyer_id: str
    buyer_name: str


def link_settings(request: Request) -> accounts.LinkSettings:
    settings = settings_of(request)
    return accounts.LinkSettings(
        secret=settings.chat_token_secret,
        ttl_seconds=settings.link_code_ttl_seconds,
        max_attempts=settings.link_code_max_attempts,
        codes_per_hour=settings.link_codes_per_hour,
        codes_per_email_per_hour=settings.link_codes_per_email_per_hour,
        codes_per_buyer_per_day=settings.link_codes_per_buyer_per_day,
        codes_per_hour_total=settings.link_codes_per_hour_total,
    )


@router.post("/link-codes", status_code=202, response_model=CodeSent)
def request_code(
    request: Request,
    body: CodeRequest,
    account: ChannelAccountDep,
    session: SessionDep,
    background: BackgroundTasks,
    at: Now,
) -> CodeSent:
    channel, external_id = account
    ls = link_settings(request)
    mail = accounts.request_code(
        session, channel=channel, external_id=external_id, email=body.email, now=at, ls=ls
    )
    session.commit()
    if mail is not None:
        outbox = settings_of(request).outbox_dir
        background.add_task(accounts.write_to_outbox, mail, directory=outbox, now=at)
    return CodeSent(expires_in_seconds=ls.ttl_seconds)


@router.post("/link", status_code=201, response_model=LinkOut)
def link(
    request: Request,
    body: CodeCheck,
    account: ChannelAccountDep,
    session: SessionDep,
    background: BackgroundTasks,
    at: Now,
) -> LinkOut:
    channel, external_id = account
    result = accounts.verify_code(
        session,
        channel=channel,
        external_id=external_id,
        code=body.code,
        now=at,
        ls=link_settings(request),
    )
    session.commit()  # a wrong attempt counts even though the request fails
    if result.error is not None:
        raise result.error
    assert result.buyer is not None
    # The buyer hears of every new link, so a link they did not make does not go unseen.
    notice = accounts.link_notice(result.buyer, channel=channel, now=at)
    background.add_task(
        accounts.write_to_outbox, notice, directory=settings_of(request).outbox_dir, now=at
    )
    return LinkOut(
        channel=channel,
        external_id=external_id,
        buyer_id=result.buyer.id,
        buyer_name=result.buyer.name,
    )


@router.get("/link", response_model=LinkOut)
def get_link(account: ChannelAccountDep, session: SessionDep) -> LinkOut:
    channel, external_id = account
    buyer_id = accounts.linked_buyer_id(session, channel=channel, external_id=external_id)
    buyer = session.get(Buyer, buyer_id)
    assert buyer is not None
    return LinkOut(
        channel=channel, external_id=external_id, buyer_id=buyer.id, buyer_name=buyer.name
    )


@router.delete("/link", status_code=204)
def unlink(account: ChannelAccountDep, session: SessionDep) -> Response:
    """Idempotent: unlinking an account that is not linked is not an error."""
    channel, external_id = account
    accounts.unlink(session, channel=channel, external_id=external_id)
    session.commit()
    return Response(status_code=204)
