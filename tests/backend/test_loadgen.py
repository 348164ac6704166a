"""The bench's load generator: percentiles, closed loop, and every answer checked."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from dispute_backend import loadgen


def test_percentile_is_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100, shuffled below
    values.reverse()
    assert loadgen.percentile(values, 50) == 50.0
    assert loadgen.percentile(values, 95) == 95.0
    assert loadgen.percentile(values, 100) == 100.0
    assert loadgen.percentile([7.0], 95) == 7.0
    # 20 values: the 95th percentile is the 19th smallest, not the largest
    assert loadgen.percentile([float(v) for v in range(20)], 95) == 18.0
    with pytest.raises(ValueError):
        loadgen.percentile([], 50)
    with pytest.raises(ValueError):
        loadgen.percentile([1.0], 0)


def test_encode_writes_a_keep_alive_request_with_its_body() -> None:
    call = loadgen.encode("POST", "/x", host="h:1", headers={"X-A": "b"}, body={"k": 1}, expect=201)
    head, _, body = call.wire.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /x HTTP/1.1"
    assert b"Host: h:1" in lines and b"X-A: b" in lines
    assert b"Content-Length: %d" % len(body) in lines
    assert body == b'{"k": 1}' and call.expect == 201
    assert b"Content-Length" not in loadgen.encode("GET", "/", host="h").wire


Handler = Callable[[int, asyncio.StreamWriter], Awaitable[bool]]


async def _serve(handler: Handler) -> tuple[asyncio.Server, int, list[int]]:
    """A tiny HTTP/1.1 server: reads each request head, lets `handler` answer it.
    The list counts the connections accepted."""
    seen = [0]
    connections: list[int] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                seen[0] += 1
                if not await handler(seen[0], writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, port, connections


def _drive(
    handler: Handler, calls: list[loadgen.Call], clients: int
) -> tuple[loadgen.Run, list[int]]:
    """`loadgen.drive` with `clients` through `calls` at a tiny server that answers with
    `handler`: the run, and the connections the server accepted."""

    async def main() -> tuple[loadgen.Run, list[int]]:
        server, port, connections = await _serve(handler)
        async with server:
            return await loadgen.drive("127.0.0.1", port, calls, clients=clients), connections

    return asyncio.run(main())


def _answer(status: int, body: bytes = b"ok", extra: bytes = b"") -> bytes:
    return (b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n%s\r\n" % (status, len(body), extra)) + body


def test_counts_wrong_statuses_as_errors_not_latencies() -> None:
    async def handler(n: int, writer: asyncio.StreamWriter) -> bool:
        writer.write(_answer(500 if n % 4 == 0 else 200))
        return True

    run, connections = _drive(handler, [loadgen.encode("GET", "/", host="x")] * 40, clients=2)
    assert (run.answered, run.errors) == (30, 10)
    assert run.first_error == "status 500, expected 200"
    assert len(connections) == 2  # keep-alive: one connection per client, reused
    assert run.rps > 0 and all(ms >= 0 for ms in run.latencies_ms)


def test_expected_status_is_per_request() -> None:
    async def handler(n: int, writer: asyncio.StreamWriter) -> bool:
        writer.write(_answer(201))
        return True

    calls = [
        loadgen.encode("POST", "/", host="x", body={}, expect=201),
        loadgen.encode("GET", "/", host="x"),  # expects 200: an error
    ]
    run, _ = _drive(handler, calls, clients=1)
    assert (run.answered, run.errors) == (1, 1)


def test_chunked_bodies_and_closed_connections() -> None:
    async def handler(n: int, writer: asyncio.StreamWriter) -> bool:
        if n == 2:  # a chunked answer
            writer.write(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
            )
            return True
        if n == 3:  # the server says it closes after this answer
            writer.write(_answer(200, extra=b"Connection: close\r\n"))
            return False
        if n == 5:  # hangs up without answering: a transport error
            return False
        writer.write(_answer(200))
        return True

    run, connections = _drive(handler, [loadgen.encode("GET", "/", host="x")] * 7, clients=1)
    assert (run.answered, run.errors) == (6, 1)
    assert run.first_error is not None and run.first_error.startswith("transport")
    assert len(connections) == 3  # reconnected after the close and after the hang-up


def test_a_refused_connection_is_an_error() -> None:
    async def main() -> loadgen.Run:
        server, port, _ = await _serve(lambda n, w: asyncio.sleep(0, result=True))
        server.close()
        await server.wait_closed()
        calls = [loadgen.encode("GET", "/", host="x")] * 3
        return await loadgen.drive("127.0.0.1", port, calls, clients=1)

    run = asyncio.run(main())
    assert (run.answered, run.errors) == (0, 3)
    assert run.first_error is not None and run.first_error.startswith("connect")


def test_closed_loop_never_has_more_requests_in_flight_than_clients() -> None:
    in_flight, peak = [0], [0]

    async def handler(n: int, writer: asyncio.StreamWriter) -> bool:
        in_flight[0] += 1
        peak[0] = max(peak[0], in_flight[0])
        await asyncio.sleep(0.005)
        in_flight[0] -= 1
        writer.write(_answer(200))
        return True

    run, _ = _drive(handler, [loadgen.encode("GET", "/", host="x")] * 30, clients=3)
    assert (run.answered, run.errors, peak[0]) == (30, 0, 3)
    assert min(run.latencies_ms) >= 5.0  # the server's time is in every latency
