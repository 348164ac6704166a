"""`python -m dispute_backend bench-read`: the two ways of reading a buyer's dispute, compared.

GET /api/v1/disputes/{id} reads with one prebuilt statement of plain columns
(services/disputes.py `read_for_buyer`, a `DisputeRecord`); every other route loads ORM
objects (`get_for_buyer`, then `record_of`). This times both, rendered as the route renders
them, on a fresh seeded SQLite file, each call in a session of its own as a request has, and
prints the ratio that justifies keeping the second read path.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from . import rules
from .api import views
from .clock import SystemClock
from .db import make_engine, make_session_factory, mark_read
from .migrate import upgrade
from .models import Buyer, Dispute, public_dispute_id
from .seed import seed
from .services import disputes as dispute_svc

ROUNDS = 2000


def _time(factory: sessionmaker[Session], rounds: int, read: Callable[[Session], object]) -> float:
    """Seconds per call, the best of three runs."""
    best = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        for _ in range(rounds):
            with factory() as session:
                mark_read(session)
                read(session)
        best = min(best, (time.perf_counter() - began) / rounds)
    return best


def run(rounds: int = ROUNDS) -> float:
    """Print both timings and return ORM time / one-statement time."""
    rs, now = rules.RuleSettings(), SystemClock().now()
    with tempfile.TemporaryDirectory() as workdir:
        url = f"sqlite:///{Path(workdir) / 'bench.db'}"
        upgrade(url)
        engine = make_engine(url)
        factory = make_session_factory(engine)
        with factory() as session:
            seed(session, now=now, rs=rs)
            session.commit()
            # The dispute with the longest history: the ORM's cost grows with its proposals.
            dispute = max(session.scalars(select(Dispute)), key=lambda d: len(d.proposals))
            buyer_id, public_id = dispute.buyer_id, public_dispute_id(dispute.id)

        def one_statement(session: Session) -> object:
            d = dispute_svc.read_for_buyer(session, buyer_id=buyer_id, public_id=public_id)
            return views.dispute_out(session, d, now=now, rs=rs)

        def orm(session: Session) -> object:
            buyer = session.get(Buyer, buyer_id)  # the unknown-buyer check the route makes
            assert buyer is not None
            d = dispute_svc.get_for_buyer(session, buyer_id=buyer.id, public_id=public_id)
            return views.dispute_out(session, d, now=now, rs=rs)

        assert one_statement(factory()) == orm(factory())  # the same answer either way
        fast, slow = _time(factory, rounds, one_statement), _time(factory, rounds, orm)
        engine.dispose()
    ratio = slow / fast
    print(f"one statement (DisputeRecord): {fast * 1e6:8.0f} us per read")
    print(f"ORM (get_for_buyer+record_of): {slow * 1e6:8.0f} us per read")
    print(f"ratio ORM / one statement: {ratio:.2f}")
    return ratio
