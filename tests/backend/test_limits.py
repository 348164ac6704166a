"""Body size caps hold without a Content-Length: a chunked upload is counted as it arrives and
refused with 413 once past the cap, JSON and multipart alike, on a real server and in the
ASGI app itself (which then stops reading)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import factories as f
from dispute_backend.app import create_app
from dispute_backend.clock import FrozenClock
from dispute_backend.db import make_engine
from dispute_backend.limits import JSON_LIMIT
from dispute_backend.models import Evidence
from dispute_backend.settings import Settings
from live import serving

P = "https://disputes.example/problems/"
BOUNDARY = "limits-test-boundary"
PNG = b"\x89PNG\r\n\x1a\n"
CHUNK = 16 * 1024


@pytest.fixture
def app(sqlite_settings: Settings) -> FastAPI:
    return create_app(sqlite_settings, clock=FrozenClock(f.NOW))


@pytest.fixture
def open_dispute(app: FastAPI, sqlite_settings: Settings) -> tuple[str, str]:
    """An order with a dispute (for uploads) and another without one (for opens)."""
    engine = make_engine(sqlite_settings.database_url)
    with Session(engine) as s:
        orders = [f.order(s).id, f.order(s).id]
        s.commit()
    engine.dispose()
    with serving(app) as base:
        r = httpx.post(
            f"{base}/api/v1/disputes",
            json=_open_body(orders[0]),
            headers=_headers(sqlite_settings),
        )
    assert r.status_code == 201, r.text
    return r.json()["id"], orders[1]


def _headers(settings: Settings) -> dict[str, str]:
    return f.buyer_headers(settings, "alice") | f.key("k")


def _open_body(order_id: str, description: str = "") -> dict[str, str]:
    return {
        "order_id": order_id,
        "reason": "damaged",
        "requested_outcome": "full_refund",
        "description": description,
    }


def _chunks(data: bytes) -> Iterator[bytes]:
    for i in range(0, len(data), CHUNK):
        yield data[i : i + CHUNK]


def _multipart(file_bytes: bytes) -> bytes:
    head = (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="file"; filename="box.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    return head + file_bytes + f"\r\n--{BOUNDARY}--\r\n".encode()


def _nothing_stored(settings: Settings) -> None:
    engine = make_engine(settings.database_url)
    with Session(engine) as s:
        assert s.scalar(select(func.count(Evidence.id))) == 0
    engine.dispose()
    files = [p for p in Path(settings.evidence_dir).rglob("*") if p.is_file()]
    assert files == []


def _is_413(r: httpx.Response) -> None:
    assert r.status_code == 413, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"] == P + "payload-too-large"


# --- a real server, a real chunked request ---------------------------------------------------


def test_a_chunked_json_body_over_the_cap_is_refused(
    app: FastAPI, sqlite_settings: Settings, open_dispute: tuple[str, str]
) -> None:
    _, free_order = open_dispute
    body = httpx.Request("POST", "/", json=_open_body(free_order, "x" * JSON_LIMIT)).content
    with serving(app) as base:
        r = httpx.post(
            f"{base}/api/v1/disputes",
            content=_chunks(body),  # an iterator: sent chunked, no Content-Length
            headers=_headers(sqlite_settings) | {"Content-Type": "application/json"},
        )
        assert r.request.headers.get("transfer-encoding") == "chunked"
        assert "content-length" not in r.request.headers
        _is_413(r)
        small = httpx.Request("POST", "/", json=_open_body(free_order)).content
        ok = httpx.post(
            f"{base}/api/v1/disputes",
            content=_chunks(small),
            headers=_headers(sqlite_settings) | {"Content-Type": "application/json"},
        )
    assert ok.status_code == 201, ok.text  # chunked is fine under the cap


def test_a_chunked_upload_over_the_cap_is_refused_and_stores_nothing(
    app: FastAPI, sqlite_settings: Settings, open_dispute: tuple[str, str]
) -> None:
    did, _ = open_dispute
    # Over the multipart cap (one file of MAX_EVIDENCE_BYTES plus 64 KiB of form).
    data = _multipart(PNG + b"\x00" * (sqlite_settings.max_evidence_bytes + 70 * 1024))
    content_type = f"multipart/form-data; boundary={BOUNDARY}"
    with serving(app) as base:
        r = httpx.post(
            f"{base}/api/v1/disputes/{did}/evidence",
            content=_chunks(data),
            headers=_headers(sqlite_settings) | {"Content-Type": content_type},
        )
        assert r.request.headers.get("transfer-encoding") == "chunked"
        _is_413(r)
        _nothing_stored(sqlite_settings)
        ok = httpx.post(
            f"{base}/api/v1/disputes/{did}/evidence",
            content=_chunks(_multipart(PNG + b"\x00" * 1000)),
            headers=_headers(sqlite_settings) | {"Content-Type": content_type},
        )
    assert ok.status_code == 201, ok.text


# --- the ASGI app, fed a body that never ends ------------------------------------------------


async def _call(
    app: FastAPI, path: str, headers: dict[str, str], head: bytes
) -> tuple[int, dict[str, Any], int]:
    """POST `head` then bytes without end straight to the ASGI app (no Content-Length); the
    status, the problem and how many body bytes the app took before answering."""
    taken = 0
    chunk = b"x" * CHUNK
    sent: list[dict[str, Any]] = []
    counter = itertools.count()

    async def receive() -> dict[str, Any]:
        nonlocal taken
        if next(counter) > 10_000:  # 160 MB: without a cap the app would read all of it
            return {"type": "http.request", "body": b"", "more_body": False}
        body = head if taken == 0 else chunk
        taken += len(body)
        return {"type": "http.request", "body": body, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    await app(scope, receive, send)  # type: ignore[arg-type]
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert (b"content-type", b"application/problem+json") in start["headers"]
    return start["status"], httpx.Response(200, content=body).json(), taken


@pytest.mark.parametrize("kind", ["json", "multipart"])
def test_the_app_stops_reading_an_endless_body_at_the_cap(
    kind: str, app: FastAPI, sqlite_settings: Settings, open_dispute: tuple[str, str]
) -> None:
    did, _ = open_dispute
    if kind == "json":
        path, ctype, cap = "/api/v1/disputes", "application/json", JSON_LIMIT
        head = b'{"order_id": "1", "reason": "damaged", "description": "'
    else:
        path = f"/api/v1/disputes/{did}/evidence"
        ctype = f"multipart/form-data; boundary={BOUNDARY}"
        cap = sqlite_settings.max_evidence_bytes + 64 * 1024
        head = _multipart(PNG).rsplit(b"\r\n--", 1)[0]  # a file part that never ends
    headers = _headers(sqlite_settings) | {"Content-Type": ctype, "Host": "test"}
    status, problem, taken = anyio.run(_call, app, path, headers, head)
    assert (status, problem["type"]) == (413, P + "payload-too-large")
    assert taken <= cap + CHUNK  # read up to the cap, not one chunk more
    _nothing_stored(sqlite_settings)
