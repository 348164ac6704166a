"""What the routes depend on, declared once (full-stack-fastapi-template's `api/deps.py`).

- The clock, the rule settings and the queue settings: `Now`, `Rules`, `Queue`.
- Reads: `CurrentBuyer`, `CurrentSeller`, `CurrentOperator` load the caller's row;
  `BuyerDispute` and `SellerDispute` load a dispute and check that it is the caller's (404
  otherwise), as Netflix/dispatch's `CurrentCase` does.
- Writes: `BuyerWrite`, `SellerWrite`, `OperatorWrite` do no I/O of their own. They carry
  what an idempotent write needs, and load the caller's rows inside `run`, in the route's
  own thread and transaction: a mutating request's session takes SQLite's write lock at its
  first statement, and a dependency runs in another worker thread, so a row loaded there
  would hold the lock while the request waits for the route's thread (docs/security.md,
  "the backend can stop for good"). tests/backend/test_code_shape.py keeps the read
  dependencies out of write routes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, ClassVar, Generic, Protocol, TypeVar

from fastapi import Depends, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from .. import rules
from ..auth import BuyerDep, OperatorDep, SellerDep, SessionDep, settings_of
from ..enums import Party
from ..models import Buyer, Dispute, Operator, Seller
from ..services import disputes as dispute_svc
from ..services import evidence as evidence_svc
from ..services import handoff
from . import schemas as s
from . import views
from .common import IdempotencyKey, idempotent, now, queue_settings, require_key, rule_settings

# --- the clock and the settings (async: no I/O, so no thread hop) -----------------------------


async def _now(request: Request) -> datetime:
    return now(request)


async def _rules(request: Request) -> rules.RuleSettings:
    return rule_settings(request)


async def _queue(request: Request) -> handoff.QueueSettings:
    return queue_settings(request)


Now = Annotated[datetime, Depends(_now)]
Rules = Annotated[rules.RuleSettings, Depends(_rules)]
Queue = Annotated[handoff.QueueSettings, Depends(_queue)]


# --- reads: the caller's rows, loaded and checked once ----------------------------------------


def current_buyer(ctx: BuyerDep, session: SessionDep) -> Buyer:
    return ctx.load(session)


def current_seller(ctx: SellerDep, session: SessionDep) -> Seller:
    return ctx.load(session)


def current_operator(ctx: OperatorDep, session: SessionDep) -> Operator:
    return ctx.load(session)


def buyer_dispute(dispute_id: str, ctx: BuyerDep, session: SessionDep) -> Dispute:
    buyer = ctx.load(session)
    return dispute_svc.get_for_buyer(session, buyer_id=buyer.id, public_id=dispute_id)


def seller_dispute(dispute_id: str, ctx: SellerDep, session: SessionDep) -> Dispute:
    seller = ctx.load(session)
    return dispute_svc.get_for_seller(session, seller_id=seller.id, public_id=dispute_id)


CurrentBuyer = Annotated[Buyer, Depends(current_buyer)]
CurrentSeller = Annotated[Seller, Depends(current_seller)]
CurrentOperator = Annotated[Operator, Depends(current_operator)]
BuyerDispute = Annotated[Dispute, Depends(buyer_dispute)]
SellerDispute = Annotated[Dispute, Depends(seller_dispute)]
READ_DEPENDENCIES = (current_buyer, current_seller, current_operator, buyer_dispute, seller_dispute)


# --- writes: one idempotent unit of work, its rows loaded in the route's thread ---------------


Caller = TypeVar("Caller", Buyer, Seller, Operator)
_Row = TypeVar("_Row", covariant=True)


class CallerContext(Protocol[_Row]):
    """What the auth dependencies give a write: who is calling, checked, not yet loaded."""

    def load(self, session: Session) -> _Row: ...


@dataclass
class WriteRequest:
    """What a write carries whoever makes it: the request, its session, its Idempotency-Key,
    the clock and the rules."""

    request: Request
    session: Session
    key: str | None
    now: datetime
    rs: rules.RuleSettings


@dataclass
class Write(WriteRequest, Generic[Caller]):
    """An idempotent write: `run` answers once per (caller, Idempotency-Key) and replays
    that answer after (api/common.py `idempotent`). The caller's row is loaded once, on first
    use, and kept in a plain attribute: functools.cached_property on Python 3.11 takes one lock
    per class, so a write waiting for SQLite's lock would hold back every other write.
    """

    ctx: CallerContext[Caller]
    _caller: Caller | None = field(default=None, init=False, repr=False)

    role: ClassVar[str]  # the principal's prefix: buyer, seller or operator
    party: ClassVar[Party]  # who writes, for messages and evidence

    @property
    def caller(self) -> Caller:
        if self._caller is None:
            self._caller = self.ctx.load(self.session)
        return self._caller

    @property
    def principal(self) -> str:
        return f"{self.role}:{self.caller.id}"

    @property
    def author_id(self) -> str:
        return self.caller.id

    def dispute(self, public_id: str) -> Dispute:
        raise NotImplementedError

    def run(
        self,
        payload: object,
        action: Callable[[], BaseModel],
        *,
        status_code: int = 200,
        print_: str | None = None,
    ) -> JSONResponse:
        principal = self.principal  # loads the caller's row first, as every write did
        return idempotent(
            self.request,
            self.session,
            principal=principal,
            key=self.key,
            payload=payload,
            action=action,
            status_code=status_code,
            print_=print_,
        )

    def message(self, dispute_id: str, body: s.NewMessage) -> JSONResponse:
        """A message on the dispute from the caller's party, once per Idempotency-Key."""

        def action() -> s.MessageOut:
            m = evidence_svc.add_message(
                self.session,
                dispute=self.dispute(dispute_id),
                party=self.party,
                author_id=self.author_id,
                body=body.body,
                now=self.now,
            )
            return views.message_out(m)

        return self.run(body, action, status_code=201)

    def upload(self, dispute_id: str, file: UploadFile, description: str) -> JSONResponse:
        """An evidence file (R5: either party can upload); 404 before the upload is read."""
        self.principal  # noqa: B018  (loads the caller's row first, as every write does)
        require_key(self.key)
        settings = settings_of(self.request)
        found = self.dispute(dispute_id)
        staged = evidence_svc.stage_upload(
            file.file,
            directory=settings.evidence_dir / ".staging",
            max_bytes=settings.max_evidence_bytes,
        )
        print_ = hashlib.sha256(
            f"{self.request.url.path}|{staged.sha256}|{description}|{file.filename}".encode()
        ).hexdigest()

        def action() -> s.EvidenceOut:
            item = evidence_svc.add_evidence(
                self.session,
                dispute=found,
                party=self.party,
                author_id=self.author_id,
                staged=staged,
                filename=file.filename or "upload",
                description=description,
                evidence_dir=settings.evidence_dir,
                max_files=settings.max_evidence_files,
                now=self.now,
            )
            return views.evidence_out(item)

        try:
            return self.run(None, action, status_code=201, print_=print_)
        finally:
            staged.path.unlink(missing_ok=True)  # moved into place on success; dropped otherwise


@dataclass
class BuyerWriteContext(Write[Buyer]):
    role: ClassVar[str] = "buyer"
    party: ClassVar[Party] = Party.buyer

    @property
    def buyer(self) -> Buyer:
        return self.caller

    def dispute(self, public_id: str) -> Dispute:
        return dispute_svc.get_for_buyer(self.session, buyer_id=self.buyer.id, public_id=public_id)

    def dispute_out(self, d: Dispute) -> s.DisputeOut:
        return views.dispute_out(self.session, d, now=self.now, rs=self.rs)


@dataclass
class SellerWriteContext(Write[Seller]):
    role: ClassVar[str] = "seller"
    party: ClassVar[Party] = Party.seller

    @property
    def seller(self) -> Seller:
        return self.caller

    def dispute(self, public_id: str) -> Dispute:
        return dispute_svc.get_for_seller(
            self.session, seller_id=self.seller.id, public_id=public_id
        )


@dataclass
class OperatorWriteContext(Write[Operator]):
    role: ClassVar[str] = "operator"

    @property
    def operator(self) -> Operator:
        return self.caller


async def _write_request(
    request: Request,
    session: SessionDep,
    at: Now,
    rs: Rules,
    idempotency_key: IdempotencyKey = None,
) -> WriteRequest:
    return WriteRequest(request, session, idempotency_key, at, rs)


WriteRequestDep = Annotated[WriteRequest, Depends(_write_request)]


async def buyer_write(w: WriteRequestDep, ctx: BuyerDep) -> BuyerWriteContext:
    return BuyerWriteContext(w.request, w.session, w.key, w.now, w.rs, ctx)


async def seller_write(w: WriteRequestDep, ctx: SellerDep) -> SellerWriteContext:
    return SellerWriteContext(w.request, w.session, w.key, w.now, w.rs, ctx)


async def operator_write(w: WriteRequestDep, ctx: OperatorDep) -> OperatorWriteContext:
    return OperatorWriteContext(w.request, w.session, w.key, w.now, w.rs, ctx)


BuyerWrite = Annotated[BuyerWriteContext, Depends(buyer_write)]
SellerWrite = Annotated[SellerWriteContext, Depends(seller_write)]
OperatorWrite = Annotated[OperatorWriteContext, Depends(operator_write)]
