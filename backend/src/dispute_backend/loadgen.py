"""A light closed-loop HTTP/1.1 load generator for the bench (asyncio, raw sockets).

Each client holds one keep-alive connection and sends its next request as soon as the last
one is answered: no think time, no pipelining. Every answer's status is compared with what the
request expects; a wrong status, a broken connection or a timeout counts as an error and is
never in the latencies. Requests are encoded before the clock starts, so the client spends a
few tens of microseconds per request and the server, not the client, sets the pace.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Call:
    """One request, already encoded, and the status that counts as success."""

    wire: bytes
    expect: int = 200


def encode(
    method: str,
    path: str,
    *,
    host: str,
    headers: dict[str, str] | None = None,
    body: object | None = None,
    expect: int = 200,
) -> Call:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    payload = b""
    if body is not None:
        payload = json.dumps(body).encode()
        lines.append("Content-Type: application/json")
    if payload or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(payload)}")
    lines.extend(f"{name}: {value}" for name, value in (headers or {}).items())
    return Call(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload, expect)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest rank: the smallest value with at least p % of the values at or below it."""
    if not values:
        raise ValueError("no values")
    if not 0 < p <= 100:
        raise ValueError("p must be in (0, 100]")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@dataclass
class Run:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    wall_s: float = 0.0
    first_error: str | None = None

    @property
    def answered(self) -> int:
        return len(self.latencies_ms)

    @property
    def rps(self) -> float:
        return self.answered / self.wall_s if self.wall_s > 0 else 0.0

    def error(self, what: str) -> None:
        self.errors += 1
        if self.first_error is None:
            self.first_error = what


class ProtocolError(Exception):
    pass


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; its status, and whether the server will close the connection."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, _, rest = head.partition(b"\r\n")
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise ProtocolError(f"bad status line {status_line[:80]!r}")
    status = int(parts[1])
    length: int | None = None
    chunked = close = False
    for line in rest.split(b"\r\n"):
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
        elif name == b"connection" and value.strip().lower() == b"close":
            close = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)  # the chunk and its CRLF
            if size == 0:
                break
    elif length is not None:
        await reader.readexactly(length)
    elif status not in (204, 304) and not 100 <= status < 200:
        raise ProtocolError("response without Content-Length or chunked body")
    return status, close


async def drive(
    host: str,
    port: int,
    calls: Sequence[Call],
    clients: int,
    *,
    time_limit_s: float = 60.0,
    timeout_s: float = 30.0,
) -> Run:
    """Send `calls` in order over `clients` connections, closed loop; stop early at the limit."""
    run = Run()
    next_index = 0
    deadline = time.perf_counter() + time_limit_s

    async def client() -> None:
        nonlocal next_index
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        try:
            while next_index < len(calls) and time.perf_counter() < deadline:
                call = calls[next_index]
                next_index += 1
                started = time.perf_counter()  # a (re)connection counts in the latency
                if conn is None:
                    try:
                        async with asyncio.timeout(timeout_s):
                            conn = await asyncio.open_connection(host, port)
                    except (OSError, TimeoutError) as exc:
                        run.error(f"connect: {exc!r}")
                        continue
                reader, writer = conn
                try:
                    writer.write(call.wire)
                    async with asyncio.timeout(timeout_s):  # no extra task, unlike wait_for
                        status, close = await read_response(reader)
                except (OSError, TimeoutError, EOFError, ValueError, ProtocolError) as exc:
                    # IncompleteReadError is an EOFError, LimitOverrunError a ValueError.
                    run.error(f"transport: {exc!r}")
                    writer.close()
                    conn = None
                    continue
                elapsed_ms = (time.perf_counter() - started) * 1000
                if status == call.expect:
                    run.latencies_ms.append(elapsed_ms)
                else:
                    run.error(f"status {status}, expected {call.expect}")
                if close:
                    writer.close()
                    conn = None
        finally:
            if conn is not None:
                conn[1].close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    run.wall_s = time.perf_counter() - started
    return run
