"""A conversation lock in Redis that several Rasa servers can share without racing.

Rasa's own `RedisLockStore` issues a ticket by reading the conversation's lock, adding a
ticket in Python and writing the lock back (GET, then SET). Two servers that do it at the
same moment read the same lock, both give themselves the same ticket number, and both
process the conversation at once (the race Rasa PR 11256 describes). Here every step is
one Lua script, which Redis runs atomically:

- `issue`: a ticket is a random token queued in a sorted set under the next number of a
  counter (INCR), with its expiry (Redis's own clock) in a hash. Issuing the same token
  twice queues it once, so a retried call cannot leave an orphan ticket behind;
- `head`: the first ticket that has not expired (expired ones are dropped on the way);
  a message is processed when its ticket is the head, so the messages of a conversation
  go one at a time, in the order their tickets were issued, whichever server holds them;
- `release`: removes the ticket, and the keys once the queue is empty.

A ticket is a lease of `lease_seconds` (5 by default) that its server renews every
quarter of it while the message waits or is handled, for at most `TICKET_LOCK_LIFETIME`
seconds (Rasa's setting, 60 by default, after which a message that hangs lets the next one
go, as in Rasa). A server that dies stops renewing: its conversations wait `lease_seconds`
at most, not a minute. If Redis loses the queue (a restart without persistence) while a
message waits, the message fails with Rasa's `LockError`, which the channels answer as
"retry" (503), rather than going ahead unlocked.

endpoints.yml:

    lock_store:
      type: extensions.lock_store.OrderedRedisLockStore
      url: 127.0.0.1          # Redis host
      port: 6379
      db: 1
      key_prefix: disputes    # letters and digits
      password: ${REDIS_PASSWORD}   # optional
      lease_seconds: 5
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from typing import Any

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, LockStore
from rasa.utils.endpoints import EndpointConfig
from redis import asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

# Waiting for the head: the first look is soon (the holder usually finishes in tens of
# milliseconds), then every 50 ms at most.
FIRST_POLL_SECONDS = 0.005
MAX_POLL_SECONDS = 0.05
# Long enough that an event loop stalled for seconds keeps its tickets (renewed every
# quarter of it), short enough that a dead server's conversations go on soon after.
LEASE_SECONDS = 5.0

_NOW_MS = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
"""

# The end of `issue` and `renew` (after _NOW_MS): the ticket ARGV[1] expires in ARGV[2] ms
# (KEYS[3]: expiries), and every key of the lock in twice that, so a lock nobody asks for
# any more goes by itself.
_LEASE = """
redis.call('HSET', KEYS[3], ARGV[1], now + tonumber(ARGV[2]))
local keep = 2 * tonumber(ARGV[2])
for _, key in ipairs(KEYS) do redis.call('PEXPIRE', key, keep) end
return 1
"""

# KEYS: counter, queue, expiries. ARGV: token, lifetime in ms.
_ISSUE = (
    _NOW_MS
    + """
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[1]), ARGV[1])
end"""
    + _LEASE
)

# KEYS: counter, queue, expiries. ARGV: token, lease in ms. 0 if the ticket is gone.
_RENEW = _NOW_MS + "\nif not redis.call('ZSCORE', KEYS[2], ARGV[1]) then return 0 end" + _LEASE

# KEYS: queue, expiries. ARGV: token. Returns {head token or false, 1 if ARGV[1] is queued}.
_HEAD = (
    _NOW_MS
    + """
while true do
  local head = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
  if not head then return {false, 0} end
  local expires = tonumber(redis.call('HGET', KEYS[2], head) or '0')
  if expires > now then
    local mine = redis.call('ZSCORE', KEYS[1], ARGV[1]) and 1 or 0
    return {head, mine}
  end
  redis.call('ZREM', KEYS[1], head)
  redis.call('HDEL', KEYS[2], head)
end
"""
)

# KEYS: counter, queue, expiries. ARGV: token.
_RELEASE = """
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
if redis.call('ZCARD', KEYS[2]) == 0 then redis.call('DEL', KEYS[1], KEYS[2], KEYS[3]) end
return 1
"""


class OrderedRedisLockStore(LockStore):
    """Rasa's lock store interface, with `lock` built on atomic Redis scripts."""

    def __init__(
        self,
        endpoint_config: EndpointConfig | None = None,
        *,
        client: aioredis.Redis | None = None,
        key_prefix: str = "",
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        super().__init__()
        options: dict[str, Any] = dict(endpoint_config.kwargs) if endpoint_config else {}
        prefix = str(options.pop("key_prefix", "") or key_prefix)
        self.lease_seconds = float(options.pop("lease_seconds", "") or lease_seconds)
        if not 0 < self.lease_seconds < 3600:
            raise ValueError("lock_store lease_seconds must be between 0 and 3600")
        if prefix and not prefix.isalnum():
            raise ValueError("lock_store key_prefix must be letters and digits")
        self.prefix = f"{prefix}:lock:" if prefix else "lock:"
        if client is None:
            host = (endpoint_config.url if endpoint_config else None) or "127.0.0.1"
            client = _client(host, options)
        self.red = client
        self._issue = client.register_script(_ISSUE)
        self._head = client.register_script(_HEAD)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    def _keys(self, conversation_id: str) -> tuple[str, str, str]:
        base = f"{self.prefix}{{{conversation_id}}}"  # {..}: one hash slot in a Redis Cluster
        return f"{base}:next", f"{base}:queue", f"{base}:expires"

    @contextlib.asynccontextmanager
    async def lock(
        self,
        conversation_id: str,
        lock_lifetime: float = LOCK_LIFETIME,
        wait_time_in_seconds: float = MAX_POLL_SECONDS,
    ) -> AsyncIterator[TicketLock]:
        """Hold the conversation's lock: wait until every earlier ticket is released (or
        has expired), then run the body. Raises LockError if the ticket was lost."""
        keys = list(self._keys(conversation_id))
        token = secrets.token_hex(8)
        lease_ms = max(1, int(self.lease_seconds * 1000))
        renewing: asyncio.Task[None] | None = None
        try:
            await self._issue(keys=keys, args=[token, lease_ms])
            renewing = asyncio.create_task(self._keep(keys, token, lease_ms, lock_lifetime))
            await self._wait_for_turn(conversation_id, token, wait_time_in_seconds)
            yield TicketLock(conversation_id)
        finally:
            if renewing is not None:
                renewing.cancel()
            # Shielded: a cancelled request must still hand the conversation on.
            await asyncio.shield(self._release_quietly(conversation_id, token))

    async def _keep(self, keys: list[str], token: str, lease_ms: int, lifetime: float) -> None:
        """Renew the ticket's lease while its message waits or is handled, up to `lifetime`."""
        loop = asyncio.get_running_loop()
        until = loop.time() + lifetime
        while loop.time() + self.lease_seconds / 4 < until:
            await asyncio.sleep(self.lease_seconds / 4)
            try:
                await self._renew(keys=keys, args=[token, lease_ms])
            except Exception as error:  # Redis away: the next renewal tries again
                logger.warning("lock lease not renewed (%s)", type(error).__name__)

    async def _wait_for_turn(self, conversation_id: str, token: str, most: float) -> None:
        _, queue, expires = self._keys(conversation_id)
        pause = FIRST_POLL_SECONDS
        while True:
            head, mine = await self._head(keys=[queue, expires], args=[token])
            if head is not None and _text(head) == token:
                return
            if not mine:
                raise LockError(f"lost the lock ticket of conversation {conversation_id!r}")
            await asyncio.sleep(pause)
            pause = min(pause * 2, max(most, FIRST_POLL_SECONDS))

    async def _release_quietly(self, conversation_id: str, token: str) -> None:
        try:
            await self._release(keys=list(self._keys(conversation_id)), args=[token])
        except Exception as error:  # the ticket then expires by itself
            logger.warning(
                "lock of %s not released (%s); it expires by itself",
                conversation_id,
                type(error).__name__,
            )

    # Rasa's synchronous interface, used only by its own `lock`, which this class replaces.
    def get_lock(self, conversation_id: str) -> TicketLock | None:
        raise NotImplementedError("OrderedRedisLockStore is used through lock() only")

    def delete_lock(self, conversation_id: str) -> None:
        raise NotImplementedError("OrderedRedisLockStore is used through lock() only")

    def save_lock(self, lock: TicketLock) -> None:
        raise NotImplementedError("OrderedRedisLockStore is used through lock() only")


def _client(host: str, options: dict[str, Any]) -> aioredis.Redis:
    # Every script is safe to repeat (issue is keyed by its token), so a dropped
    # connection is retried a few times, briefly: a Redis restart costs a pause, not errors.
    return aioredis.Redis(
        host=host,
        port=int(options.get("port", 6379)),
        db=int(options.get("db", 1)),
        username=options.get("username") or None,
        password=options.get("password") or None,
        ssl=bool(options.get("use_ssl", False)),
        socket_timeout=float(options.get("socket_timeout", 5)),
        socket_connect_timeout=float(options.get("socket_timeout", 5)),
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 3),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        health_check_interval=30,
    )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
