"""The FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from . import problems, rules
from .api import accounts, buyer, handoff, operator, seller, storefront
from .api.schemas import Health
from .auth import SessionDep
from .clock import Clock, SystemClock
from .db import make_engine, make_session_factory
from .limits import BodySizeLimit
from .settings import Settings, get_settings


def rule_settings(settings: Settings) -> rules.RuleSettings:
    return rules.RuleSettings(
        protection_days=settings.protection_days,
        negotiation_days=settings.negotiation_days,
        carrier_response_days=settings.carrier_response_days,
        abuse_min_purchases=settings.abuse_min_purchases,
        abuse_share=settings.abuse_share,
    )


def create_app(
    settings: Settings | None = None,
    *,
    session_factory: sessionmaker[Session] | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    """The HTTP service. It never starts the scheduler: `serve` runs that once, beside however
    many processes of this app it starts (see scheduler.py)."""
    settings = settings or get_settings()
    factory = session_factory or make_session_factory(make_engine(settings.database_url))
    clk = clock or SystemClock()
    rs = rule_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Route bodies run in worker threads that share one GIL: a few threads keep the
        # CPU busy; forty just take turns and stretch every request's latency.
        to_thread.current_default_thread_limiter().total_tokens = settings.worker_threads
        yield

    app = FastAPI(
        title="Marketplace dispute backend",
        version="1.0.0",
        description="Buyer-protection disputes (rules R1-R11). Errors are RFC 9457 problems.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.session_factory = factory
    app.state.clock = clk
    app.state.rules = rs
    problems.install(app)
    # multipart: one evidence file plus its form fields
    app.add_middleware(BodySizeLimit, multipart_limit=settings.max_evidence_bytes + 64 * 1024)

    @app.get("/health", response_model=Health, tags=["health"])
    # async: one of the measured exceptions in api/common.py ON_THE_EVENT_LOOP (one SELECT 1).
    async def health(session: SessionDep) -> JSONResponse:
        try:
            session.execute(text("SELECT 1"))
        except Exception:
            return problems.problem(
                503, "service-unavailable", "Service unavailable", "The database does not answer."
            )
        return JSONResponse({"status": "ok"})

    routers = (
        storefront.router,
        buyer.router,
        seller.router,
        operator.router,
        handoff.assistant_router,
        handoff.console_router,
        accounts.router,
    )
    for router in routers:
        app.include_router(router)
    return app
