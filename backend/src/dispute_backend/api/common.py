"""What every route shares: the clock, rule settings, versions and idempotent writes."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, cast

from fastapi import Header, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from .. import errors, rules
from ..auth import now_of, settings_of
from ..models import IdempotencyRecord
from ..services import handoff, throttle

# Every route is a plain `def`: FastAPI runs it in the worker thread pool, so its blocking
# database calls never stop the event loop. These three are the measured exceptions, `async`
# on purpose: the reads the assistant makes most, each one or two prebuilt indexed statements
# that cost less than FastAPI's two hops to a worker thread and back (the route, then the
# response validation) and the GIL hand-offs they bring. Measured with `make bench-backend`
# (profiled with py-spy and cProfile; backend/README.md "Benchmark", step 2): with the rest,
# reads at 16 clients went from p95 240-580 ms to the table there. Their session closes when
# the route returns (auth.py SessionDep, scope="function"), so none of them holds a pooled
# connection across an await. tests/backend/test_route_shape.py keeps this list exact.
ON_THE_EVENT_LOOP = frozenset(
    {
        ("GET", "/health"),
        ("GET", "/api/v1/orders/{order_id}/eligibility"),
        ("GET", "/api/v1/disputes/{dispute_id}"),
    }
)

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

INT_MAX = 2**31 - 1  # an INTEGER column's largest value, on PostgreSQL and SQLite alike
_ASCII_NUMBER = re.compile(r"[0-9]{1,10}")


def _ascii_number(value: object) -> object:
    """Numeric ids in paths are ASCII digits only. Pydantic reads " 7", "+7", "7.0" and "7_0"
    as 7 (other names of a real id), and a number beyond an INTEGER made the database fail."""
    if isinstance(value, str) and _ASCII_NUMBER.fullmatch(value) is None:
        raise ValueError("an id is a whole number written with the digits 0-9")
    return value


IntId = Annotated[int, BeforeValidator(_ascii_number), Path(ge=1, le=INT_MAX)]
# Rasa's sender id: any text but control characters (PostgreSQL refuses a NUL outright).
ConversationId = Annotated[str, Path(max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$")]


def now(request: Request) -> datetime:
    return now_of(request)


def rule_settings(request: Request) -> rules.RuleSettings:
    return cast(rules.RuleSettings, request.app.state.rules)


def queue_settings(request: Request) -> handoff.QueueSettings:
    settings = settings_of(request)
    return handoff.QueueSettings(
        minutes_per_conversation=settings.handoff_minutes_per_conversation,
        presence_seconds=settings.handoff_presence_seconds,
        offline_answer=settings.handoff_offline_answer,
    )


def throttle_settings(request: Request) -> throttle.ThrottleSettings:
    settings = settings_of(request)
    return throttle.ThrottleSettings(
        failures_per_operator=settings.login_failures_per_operator,
        failures_per_client=settings.login_failures_per_client,
        window_seconds=settings.login_failure_window_seconds,
        block_seconds=settings.login_block_seconds,
        concurrent_checks=settings.login_concurrent_checks,
        check_lease_seconds=settings.login_check_lease_seconds,
    )


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
    except errors.DatabaseBusy:
        raise  # looking for a twin's answer would wait for the busy lock once more
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
