"""What every route shares: the clock, rule settings, versions and idempotent writes."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from .. import errors, rules
from ..auth import now_of
from ..models import IdempotencyRecord

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Required on every mutating request; a retry replays the first answer.",
    ),
]
IfMatch = Annotated[
    str | None,
    Header(alias="If-Match", description='The dispute version you read, e.g. "3".'),
]

_VERSION = re.compile(r'^\s*(?:W/)?"?(\d{1,9})"?\s*$')


def now(request: Request) -> datetime:
    return now_of(request)


def rule_settings(request: Request) -> rules.RuleSettings:
    rs: rules.RuleSettings = request.app.state.rules
    return rs


def expected_version(if_match: str | None) -> int:
    if if_match is None:
        raise errors.PreconditionRequired(
            'Send the dispute version you read as If-Match: "<version>".'
        )
    match = _VERSION.match(if_match)
    if match is None:
        raise errors.PreconditionRequired('If-Match must look like "3".')
    return int(match.group(1))


def fingerprint(request: Request, payload: Any) -> str:
    canonical = json.dumps(
        {
            "method": request.method,
            "path": request.url.path,
            "if_match": request.headers.get("if-match"),
            "body": payload.model_dump(mode="json") if isinstance(payload, BaseModel) else payload,
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _lookup(session: Session, principal: str, key: str) -> IdempotencyRecord | None:
    stmt = select(IdempotencyRecord).where(
        IdempotencyRecord.principal == principal, IdempotencyRecord.key == key
    )
    return session.scalars(stmt).first()


def _replay(record: IdempotencyRecord, print_: str) -> JSONResponse:
    if record.fingerprint != print_:
        raise errors.IdempotencyKeyReused(
            "This Idempotency-Key was used for a different request; use a new key."
        )
    return JSONResponse(
        json.loads(record.body),
        status_code=record.status_code,
        headers={"Idempotent-Replayed": "true"},
    )


def require_key(key: str | None) -> str:
    if key is None or not key.strip():
        raise errors.IdempotencyKeyMissing("Send an Idempotency-Key header (e.g. a UUID).")
    if len(key) > 200:
        raise errors.ValidationFailed("Idempotency-Key is at most 200 characters.")
    return key.strip()


def idempotent(
    request: Request,
    session: Session,
    *,
    principal: str,
    key: str | None,
    payload: Any,
    action: Callable[[], BaseModel],
    status_code: int = 200,
    print_: str | None = None,
) -> JSONResponse:
    """Run `action` once per (principal, key): commit its answer with it, replay it after.

    Only successful answers are stored; a failed request changed nothing and may be retried.
    """
    key = require_key(key)
    print_ = print_ or fingerprint(request, payload)
    found = _lookup(session, principal, key)
    if found is not None:
        return _replay(found, print_)
    try:
        result = action()
        body = result.model_dump(mode="json")
        session.add(
            IdempotencyRecord(
                principal=principal,
                key=key,
                fingerprint=print_,
                status_code=status_code,
                body=json.dumps(body),
                created_at=now_of(request),
            )
        )
        session.commit()
    except (StaleDataError, IntegrityError, errors.DomainError) as exc:
        # A concurrent twin with the same key may have won: answer as it did.
        session.rollback()
        found = _lookup(session, principal, key)
        if found is not None:
            return _replay(found, print_)
        if isinstance(exc, StaleDataError):
            raise errors.VersionConflict(
                "Someone else changed the dispute at the same moment; read it again."
            ) from exc
        raise
    return JSONResponse(body, status_code=status_code)
