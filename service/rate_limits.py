"""How often a caller may call: `[limits]` rates, counted by the `limits` library.

- `read`: every job route request of a caller, all jobs together.
- `trigger`: a caller's trigger requests of one job (`[jobs.<key>.limits] trigger` over it).

Over a rate the request is a 429 `RATE_LIMITED` before its body is read or Databricks is asked.
Every job route response carries `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`
(seconds) of its tightest window (`RateLimitHeaders`), the 429 as well, with `Retry-After`.

The counters live in a storage named by a URI (`open_storage`): `memory://` in this process.
With REDIS_URL (`service.redis_link`) the replicas count together in Redis, through the same
library's Redis storage on the link's connections; while Redis is down each replica counts alone
(the limit then holds per replica), and the shared count resumes when the link is back.
Fixed windows: one counter per key and window, the cheapest strategy every storage supports (a
caller may spend a window's rate at its end and the next window's at once: at most twice the
rate in a short burst). The windows run on the wall clock (`limits` reads `time.time()`), not
the injected Clock.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Mapping
from typing import NamedTuple

import limits
from limits.aio.storage import RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.callers import caller_of
from service.errors import ConfigError, RateLimited
from service.redis_link import RedisLink
from service.settings_file import JobLimits, LimitsTable

MEMORY = "memory://"
SCOPE_KEY = "jobs_sidecar.rate_limit"  # the request's tightest window, for its headers
TRIGGER_ROUTES = frozenset({"run_job"})


class Window(NamedTuple):
    """One limit as it stands for a caller after a request: for the RateLimit-* headers."""

    limit: int
    remaining: int
    reset_s: int


def parse_rate(setting: str, text: str) -> limits.RateLimitItem:
    """`text` ("10/minute", "2 per hour") as a rate; a ConfigError naming `setting` if not."""
    try:
        item = limits.parse(text)
    except ValueError:
        item = None
    if item is None or item.amount < 1:
        raise ConfigError(
            f"{setting}: {text!r} is not a rate: write e.g. 10/minute, 2 per hour, 100/second"
        )
    return item


def job_rates(jobs: Mapping[str, JobLimits]) -> dict[str, limits.RateLimitItem]:
    """Job key → its own trigger rate, for the jobs that set one; a bad rate is a ConfigError."""
    return {
        key: parse_rate(f"[jobs.{key}.limits] trigger", job.trigger)
        for key, job in jobs.items()
        if job.trigger is not None
    }


def check_rates(table: LimitsTable, jobs: Mapping[str, JobLimits]) -> None:
    """Parse every rate at start-up, so a bad one stops it (ConfigError naming the setting)."""
    parse_rate("[limits] read", table.read)
    parse_rate("[limits] trigger", table.trigger)
    job_rates(jobs)


def open_storage(uri: str) -> Storage:
    """The counters' storage: `memory://` (this process) or another `limits` storage URI."""
    storage = storage_from_string(uri if uri.startswith("async+") else f"async+{uri}")
    if not isinstance(storage, Storage):  # every async+ scheme is an async storage
        raise ConfigError(f"rate limit storage {uri!r} has no async implementation")
    return storage


class RateLimits:
    """The read and trigger limits of every caller; `refusals` counts 429s by limit."""

    def __init__(
        self,
        table: LimitsTable,
        jobs: Mapping[str, JobLimits],
        *,
        storage_uri: str = MEMORY,
        link: RedisLink | None = None,
    ) -> None:
        self._read = parse_rate("[limits] read", table.read)
        self._trigger = parse_rate("[limits] trigger", table.trigger)
        self._job_trigger = job_rates(jobs)
        self._limiter = FixedWindowRateLimiter(open_storage(storage_uri))
        self._link = link
        self._shared = FixedWindowRateLimiter(shared_storage(link)) if link else None
        self.refusals: Counter[str] = Counter()

    async def admit(self, request: Request, job_key: str | None = None) -> None:
        """Count a request of its caller (and, on a trigger route, one of `job_key`); 429 if
        over."""
        caller = caller_of(request).name
        window = await self._hit(request.scope, self._read, "read", caller)
        route = request.scope.get("route")
        if job_key is not None and route is not None and route.name in TRIGGER_ROUTES:
            rate = self._job_trigger.get(job_key, self._trigger)
            trigger = await self._hit(request.scope, rate, "trigger", job_key, caller)
            window = min(window, trigger, key=lambda w: w.remaining)
        request.scope[SCOPE_KEY] = window

    async def _hit(self, scope: Scope, rate: limits.RateLimitItem, name: str, *key: str) -> Window:
        allowed, stats = await self._count(rate, name, *key)
        # The library's windows end on the wall clock, so the time left is read from it too.
        reset_s = max(1, math.ceil(stats.reset_time - time.time()))
        window = Window(rate.amount, stats.remaining, reset_s)
        if not allowed:
            self.refusals[name] += 1
            scope[SCOPE_KEY] = window
            what = "triggers of this job" if name == "trigger" else "requests"
            raise RateLimited(
                f"Too many {what}: {rate.amount} per {_period(rate)}; retry in {reset_s} s",
                retry_after=reset_s,
            )
        return window

    async def _count(
        self, rate: limits.RateLimitItem, *key: str
    ) -> tuple[bool, limits.WindowStats]:
        """One hit in the shared count while Redis answers, else in this process's own."""
        if self._shared is not None and self._link is not None and self._link.up:
            try:
                async with asyncio.timeout(self._link.timeout_s * 2):
                    return await _hit_and_read(self._shared, rate, *key)
            except (RedisError, StorageError, OSError, TimeoutError) as exc:
                self._link.mark_down(exc)
        return await _hit_and_read(self._limiter, rate, *key)


async def _hit_and_read(
    limiter: FixedWindowRateLimiter, rate: limits.RateLimitItem, *key: str
) -> tuple[bool, limits.WindowStats]:
    return await limiter.hit(rate, *key), await limiter.get_window_stats(rate, *key)


def shared_storage(link: RedisLink) -> Storage:
    """The `limits` Redis storage on the link's own connections (its timeouts, no retries)."""
    return RedisStorage(
        f"async+{link.url}",
        implementation="redispy",
        key_prefix=link.key("limits"),
        # The library passes it through to redis-py, though its options are typed as scalars.
        connection_pool=link.client.connection_pool,  # type: ignore[arg-type]
    )


def _period(rate: limits.RateLimitItem) -> str:
    unit = rate.GRANULARITY.name
    return unit if rate.multiples == 1 else f"{rate.multiples} {unit}s"


class RateLimitHeaders:
    """Add the request's RateLimit-* headers (set by `RateLimits.admit`) to its response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            window: Window | None = scope.get(SCOPE_KEY)
            if message["type"] == "http.response.start" and window is not None:
                message["headers"] = [*message.get("headers", ()), *headers(window)]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def headers(window: Window) -> list[tuple[bytes, bytes]]:
    return [
        (b"ratelimit-limit", str(window.limit).encode()),
        (b"ratelimit-remaining", str(window.remaining).encode()),
        (b"ratelimit-reset", str(window.reset_s).encode()),
    ]
