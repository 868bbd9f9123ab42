"""The Redis connection that replicas share: one client, short timeouts, and a circuit.

Every shared piece (read cache, run hub, key memory) asks Redis through `RedisLink.run`: while
the link is down it fails at once with `RedisDown` (the caller then works locally), and one
background task pings Redis until it answers again. The change is logged once each way, and
shown by `/metrics` (`sidecar_redis_up`) and `/readyz` (`"redis": "down"`, still ready).

An error *reply* is not a lost link: Redis at its `maxmemory` refuses writes (OOM), a key
someone else wrote may be of another type (WRONGTYPE). Such a call fails with `RedisRefused`
(a `RedisDown`, so every caller already does that operation locally) and the link stays up:
marking it down would make it flap, since the next PING answers (see service/redis_health.py).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError, ResponseError

from service import logs
from service.clock import Clock, LoopClock
from service.redis_health import RedisHealth

T = TypeVar("T")
PROBE_S = 1.0  # how often the circuit asks a Redis that is down (and checks one that is up)
BLOCK_MS = 500  # the hub's XREAD wait: its client reads this much longer than the timeout
_log = logs.library_logger("service.redis")


class RedisDown(Exception):
    """Redis did not answer in time, or refused: work locally until the link is back."""


class RedisRefused(RedisDown):
    """Redis answered this call with an error (OOM, WRONGTYPE, a script's error): do this
    operation locally; the link is up."""


class RedisLink:
    """The replica's link to Redis; `up` says whether shared state is in use right now.

    `url` is what the rate limiter of the front door can reuse (`limits`' storage URI);
    `prefix` starts every key; `replica` names this process in leases and heartbeats.
    """

    def __init__(
        self, url: str, *, timeout_s: float, prefix: str, clock: Clock | None = None
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.timeout_s = timeout_s
        self.replica = uuid.uuid4().hex[:16]
        self._state: bool | None = None  # unknown until the first PING
        self.changes = 0  # times the link went down or came back (tests, metrics)
        self.health = RedisHealth(clock or LoopClock())
        self._on_rejoin: list[Callable[[], Awaitable[None]]] = []
        self._on_close: list[Callable[[], Awaitable[None]]] = []
        self.client = self.new_client(read_timeout_s=timeout_s)
        # Its own connection: a blocking XREAD would otherwise hold one the others wait for.
        self.reader = self.new_client(read_timeout_s=timeout_s + BLOCK_MS / 1000)

    def new_client(self, *, read_timeout_s: float) -> redis.Redis:
        """A client of its own (the hub's blocking reader needs a longer read timeout)."""
        return redis.Redis.from_url(
            self.url,
            socket_connect_timeout=self.timeout_s,
            socket_timeout=read_timeout_s,
            # Why no retries: redis-py retries 3 times by default, which would triple the time
            # a dead Redis holds a request; the circuit below retries in the background instead.
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
        )

    @property
    def up(self) -> bool:
        return self._state is True

    @property
    def state(self) -> str:
        """What /readyz says: `up`, `degraded` (refusals or a task's crash lately), `down`."""
        if not self.up:
            return "down"
        return "degraded" if self.health.degraded else "up"

    def key(self, *parts: object) -> str:
        return ":".join([self.prefix, *(str(p) for p in parts)])

    def on_rejoin(self, action: Callable[[], Awaitable[None]]) -> None:
        """Run `action` each time the link comes back (before it is used again)."""
        self._on_rejoin.append(action)

    def on_close(self, action: Callable[[], Awaitable[None]]) -> None:
        """Run `action` when the link closes (what else holds connections to Redis)."""
        self._on_close.append(action)

    async def run(self, call: Callable[[redis.Redis], Awaitable[T]]) -> T:
        """`call(client)` within the timeout; `RedisDown` at once while the link is down."""
        if not self.up:
            raise RedisDown
        try:
            async with asyncio.timeout(self.timeout_s * 2):
                return await call(self.client)
        except (RedisError, OSError, TimeoutError) as exc:
            raise self.failed(exc) from None

    def failed(self, exc: BaseException) -> RedisDown:
        """What a call's error means: a refusal (`RedisRefused`, the link stays up) when Redis
        answered with an error, else a lost link (marked down)."""
        if isinstance(exc, ResponseError):
            self.health.refusal(exc)
            return RedisRefused()
        self.mark_down(exc)
        return RedisDown()

    def mark_down(self, exc: BaseException) -> None:
        if self._state is not False:
            self.changes += int(self._state is True)
            self._state = False
            # Only the error's type: its text can hold the URL, and with it a password.
            _log.warning("redis.unreachable", error=type(exc).__name__, mode="local")

    async def probe(self) -> bool:
        """One PING; on the way back up, the rejoin actions run first."""
        try:
            async with asyncio.timeout(self.timeout_s * 2):
                await self.client.ping()
        except (RedisError, OSError, TimeoutError) as exc:
            self.mark_down(exc)
            return False
        if not self.up:
            for action in self._on_rejoin:
                try:
                    async with asyncio.timeout(self.timeout_s * 2):
                        await action()
                except (RedisError, OSError, TimeoutError) as exc:
                    self.mark_down(exc)
                    return False
            self.changes += int(self._state is False)
            self._state = True
            _log.info("redis.connected", mode="shared", replica=self.replica)
        return True

    async def keep_checking(self, clock: Clock) -> None:
        """The circuit: ping every PROBE_S, for the life of the services."""
        while True:
            await self.probe()
            await clock.sleep(PROBE_S)

    async def close(self) -> None:
        for action in self._on_close:
            await action()
        await self.reader.aclose()
        await self.client.aclose()
