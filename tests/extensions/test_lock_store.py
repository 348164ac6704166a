"""The Redis conversation lock (extensions/lock_store.py) on the machine's real Redis.

Two processes stand for two Rasa servers: each has its own lock store and connections, and
they contend for one conversation at the same instant. Rasa's own RedisLockStore fails this
(most messages end in LockError or wait for a ticket to expire: its ticket is a GET and a
SET, not one step)."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from rasa.core.lock_store import LockError
from rasa.utils.endpoints import EndpointConfig

from extensions.lock_store import OrderedRedisLockStore

REDIS_DB = 3
CONVERSATION = "c0ffee"


def store_for(prefix: str) -> OrderedRedisLockStore:
    config = EndpointConfig(url="127.0.0.1", port=6379, db=REDIS_DB, key_prefix=prefix)
    return OrderedRedisLockStore(config)


@pytest.fixture
def prefix() -> Iterator[str]:
    name = "t" + uuid.uuid4().hex[:12]
    yield name
    client = redis.Redis(db=REDIS_DB)
    for key in client.scan_iter(f"{name}*"):
        client.delete(key)


def contend(prefix: str, tasks: int, start_at: float) -> tuple[int, int, list[str]]:
    """In its own process: `tasks` messages of one conversation at `start_at`.
    Returns (overlaps seen, errors, the order this process's tasks got in)."""

    async def run() -> tuple[int, int, list[str]]:
        store, shared = store_for(prefix), redis.Redis(db=REDIS_DB)
        overlaps, errors, entered = 0, 0, []

        async def message(name: str) -> None:
            nonlocal overlaps, errors
            try:
                async with store.lock(CONVERSATION):
                    if shared.incr(f"{prefix}:inside") > 1:
                        overlaps += 1
                    entered.append(name)
                    shared.rpush(f"{prefix}:order", name)
                    await asyncio.sleep(0.002)
                    shared.decr(f"{prefix}:inside")
            except LockError:
                errors += 1

        while time.time() < start_at:
            await asyncio.sleep(0.001)
        await asyncio.gather(*(message(f"{start_at}-{i}") for i in range(tasks)))
        return overlaps, errors, entered

    return asyncio.run(run())


def test_two_servers_take_turns_on_one_conversation_without_errors(prefix: str) -> None:
    start = time.time() + 2.0  # both processes imported and connected by then
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        results = pool.starmap(contend, [(prefix, 25, start)] * 2)
    # A ticket that expired shows here, not as time: an expired holder lets the next one
    # in while it is still inside (an overlap), an expired waiter is dropped from the
    # queue and its message ends in LockError (an error).
    assert [r[0] for r in results] == [0, 0], "two messages were inside at once"
    assert [r[1] for r in results] == [0, 0], "a message lost its ticket"
    order = [x.decode() for x in redis.Redis(db=REDIS_DB).lrange(f"{prefix}:order", 0, -1)]
    assert sorted(order) == sorted(results[0][2] + results[1][2])  # every message got in


async def test_messages_get_in_in_the_order_they_arrived(prefix: str) -> None:
    server_a, server_b = store_for(prefix), store_for(prefix)
    entered: list[str] = []
    holding = asyncio.Event()
    release = asyncio.Event()

    async def first() -> None:
        async with server_a.lock(CONVERSATION):
            entered.append("first")
            holding.set()
            await release.wait()

    async def later(name: str, store: OrderedRedisLockStore) -> None:
        async with store.lock(CONVERSATION):
            entered.append(name)

    holder = asyncio.create_task(first())
    await holding.wait()
    waiting = []
    for i, store in enumerate([server_b, server_a, server_b, server_a]):
        waiting.append(asyncio.create_task(later(f"m{i}", store)))
        await asyncio.sleep(0.02)  # each arrives strictly after the one before
    release.set()
    await asyncio.wait_for(asyncio.gather(holder, *waiting), timeout=5)
    assert entered == ["first", "m0", "m1", "m2", "m3"]


def hold_and_hang(prefix: str, held: Any) -> None:
    """In its own process: take the lock with a short lease, say so, and hang (until killed)."""

    async def run() -> None:
        store = OrderedRedisLockStore(
            EndpointConfig(url="127.0.0.1", port=6379, db=REDIS_DB, key_prefix=prefix),
            lease_seconds=0.5,
        )
        async with store.lock(CONVERSATION):
            held.set()
            await asyncio.sleep(3600)

    asyncio.run(run())


async def test_a_server_that_died_holding_a_conversation_blocks_it_only_for_its_lease(
    prefix: str,
) -> None:
    spawn = multiprocessing.get_context("spawn")
    held = spawn.Event()
    server = spawn.Process(target=hold_and_hang, args=(prefix, held))
    server.start()
    assert await asyncio.to_thread(held.wait, 30)
    os.kill(server.pid or 0, signal.SIGKILL)  # died holding it: no release, no renewal
    server.join()
    began = time.monotonic()
    async with store_for(prefix).lock(CONVERSATION):
        waited = time.monotonic() - began
    assert waited < 2.0, f"waited {waited:.1f} s for a dead server's ticket"


async def test_a_live_holder_keeps_its_ticket_past_the_lease_by_renewing_it(prefix: str) -> None:
    holder = OrderedRedisLockStore(
        EndpointConfig(url="127.0.0.1", port=6379, db=REDIS_DB, key_prefix=prefix),
        lease_seconds=0.4,
    )
    entered: list[float] = []
    began = time.monotonic()

    async def hold() -> None:
        async with holder.lock(CONVERSATION):
            await asyncio.sleep(1.5)  # almost four leases
            entered.append(time.monotonic() - began)

    async def wait() -> None:
        async with store_for(prefix).lock(CONVERSATION):
            entered.append(time.monotonic() - began)

    first = asyncio.create_task(hold())
    await asyncio.sleep(0.05)
    await asyncio.wait_for(asyncio.gather(first, wait()), timeout=10)
    assert entered[0] >= 1.5 and entered[1] >= entered[0], entered


async def test_a_message_that_hangs_lets_the_next_go_after_rasas_lock_lifetime(
    prefix: str,
) -> None:
    hanging = OrderedRedisLockStore(
        EndpointConfig(url="127.0.0.1", port=6379, db=REDIS_DB, key_prefix=prefix),
        lease_seconds=0.2,
    )
    release = asyncio.Event()

    async def hang() -> None:
        async with hanging.lock(CONVERSATION, lock_lifetime=0.5):
            await release.wait()

    task = asyncio.create_task(hang())
    await asyncio.sleep(0.05)
    began = time.monotonic()
    async with store_for(prefix).lock(CONVERSATION):
        waited = time.monotonic() - began
    release.set()
    await task
    assert 0.3 < waited < 2.0, waited


async def test_a_ticket_lost_from_redis_fails_the_message_instead_of_running_unlocked(
    prefix: str,
) -> None:
    store = store_for(prefix)
    release = asyncio.Event()

    async def holder() -> None:
        async with store.lock(CONVERSATION):
            await release.wait()

    task = asyncio.create_task(holder())
    await asyncio.sleep(0.05)
    waiter = asyncio.create_task(_enter(store))
    await asyncio.sleep(0.05)
    client = redis.Redis(db=REDIS_DB)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)  # as a Redis restart without persistence would
    with pytest.raises(LockError):
        await asyncio.wait_for(waiter, timeout=5)
    release.set()
    await task


async def _enter(store: OrderedRedisLockStore) -> None:
    async with store.lock(CONVERSATION):
        pass


async def test_the_keys_are_gone_once_nobody_holds_or_waits(prefix: str) -> None:
    store = store_for(prefix)
    async with store.lock(CONVERSATION):
        assert list(redis.Redis(db=REDIS_DB).scan_iter(f"{prefix}*"))
    assert not list(redis.Redis(db=REDIS_DB).scan_iter(f"{prefix}*"))


def test_a_key_prefix_that_is_not_alphanumeric_is_refused() -> None:
    with pytest.raises(ValueError, match="letters and digits"):
        store_for("bad:prefix")
