"""How often a caller may call: `[limits]` rates, counted by the `limits` library.

- `read`: every job route request of a caller, all jobs together (triggers included), and
  `/openapi.json`.
- `trigger`: a caller's triggers (runs, repairs, reruns) of one job that could reach Databricks
  (`[jobs.<key>.limits] trigger` over it): counted once the request has passed every check of
  its own, just before Databricks is asked to start work. A 400 (a bad body or parameters), a
  422 or a replay of a remembered Idempotency-Key starts nothing and counts against `read` only,
  so a user fixing a form is never locked out of the job.

Over a rate the request is a 429 `RATE_LIMITED` before Databricks is asked; a caller already at
its trigger limit is refused before the body is read. A 429 carries `RateLimit-Limit`,
`RateLimit-Remaining` and `RateLimit-Reset` (seconds) of the window it broke, with
`Retry-After`; a trigger's answer carries those of its tightest window.

The counters live in a storage named by a URI (`open_storage`): `memory://` in this process.
With REDIS_URL (`service.redis_link`) the replicas count triggers together in Redis, through the
same library's Redis storage on the link's connections (reads stay per replica: see `_hit`);
while Redis is down each replica counts alone (the limit then holds per replica), and the shared
count resumes when the link is back.
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
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, NamedTuple, TypeVar

import limits
from limits.aio.storage import Storage
from limits.errors import StorageError
from limits.storage import storage_from_string
from starlette.requests import Request
from starlette.types import Scope

from service.callers import caller_of
from service.errors import ConfigError, RateLimited
from service.middleware import add_response_headers
from service.settings_file import JobLimits, LimitsTable

if TYPE_CHECKING:  # redis-py is imported only with REDIS_URL (it costs ~7 MB of RSS)
    from service.redis_link import RedisLink

MEMORY = "memory://"
TRIGGER_ROUTES = frozenset({"run_job", "repair_run", "rerun_run"})  # each starts work that costs
T = TypeVar("T")
MAX_KEYS = 50_000  # storage keys remembered (rate, name, caller[, job]); forgotten all at once
_READ_WINDOW = "sidecar.read_window"  # scope key: a trigger's read window, for its headers


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
        self._local = open_storage(storage_uri)
        self._link = link
        self._shared = shared_storage(link) if link else None
        self._shared_errors = shared_errors() if link else ()
        self._keys: dict[tuple[str, ...], str] = {}
        self.refusals: Counter[str] = Counter()

    async def admit(self, request: Request, job_key: str | None = None) -> None:
        """Count a request of its caller against `read`; 429 if over. On a trigger route, also
        429 if the caller has no trigger of `job_key` left (counted by `admit_trigger`)."""
        caller = caller_of(request).name
        route = request.scope.get("route")
        trigger = job_key is not None and route is not None and route.name in TRIGGER_ROUTES
        read = await self._hit(request.scope, self._read, False, trigger, "read", caller)
        if trigger and job_key is not None and read is not None:
            request.scope[_READ_WINDOW] = read
            rate = self._job_trigger.get(job_key, self._trigger)
            await self._hit(request.scope, rate, True, False, "trigger", job_key, caller, peek=True)

    async def admit_trigger(self, request: Request, job_key: str) -> None:
        """Count a trigger that is about to reach Databricks; 429 if over `trigger`."""
        caller = caller_of(request).name
        rate = self._job_trigger.get(job_key, self._trigger)
        mine = await self._hit(request.scope, rate, True, True, "trigger", job_key, caller)
        read = request.scope.get(_READ_WINDOW)
        if mine is not None:
            # A trigger's answer says how many more the caller may start; reads say nothing
            # unless refused (their headers cost ~3 % of a cached read: bench 4).
            show(request.scope, mine if read is None else min(read, mine, key=_remaining))

    async def _hit(
        self,
        scope: Scope,
        rate: limits.RateLimitItem,
        shared: bool,
        shown: bool,
        name: str,
        *ids: str,
        peek: bool = False,
    ) -> Window | None:
        """One hit, in the replicas' shared count if `shared`; its window when `shown` (or
        refused: 429 with it), else None. `peek`: refused if one more hit would be over the
        rate, but not counted.

        Why reads count per replica: a shared count is a Redis round trip per request, which
        cut cached reads with two workers from 10,500 to 7,000 a second (bench 7); a read limit
        guards a replica's own capacity anyway. Triggers (each a Databricks call that starts a
        run that costs money) are counted across replicas."""
        key = self._key(rate, name, *ids)
        expiry = rate.get_expiry()
        if peek:
            count = await self._on_storage(lambda storage: storage.get(key)) + 1
        elif shared:
            count = await self._on_storage(lambda storage: storage.incr(key, expiry))
        else:  # the hot path: no closure, no extra frame
            count = await self._local.incr(key, expiry)
        refused = count > rate.amount
        if not (shown or refused):
            return None
        if shared:
            ends_at = await self._on_storage(lambda storage: storage.get_expiry(key))
        else:
            ends_at = await self._local.get_expiry(key)
        # The library's windows end on the wall clock, so the time left is read from it too.
        reset_s = max(1, math.ceil(ends_at - time.time()))
        window = Window(rate.amount, max(0, rate.amount - count), reset_s)
        if refused:
            self.refusals[name] += 1
            show(scope, window)
            what = "triggers of this job" if name == "trigger" else "requests"
            raise RateLimited(
                f"Too many {what}: {rate.amount} per {_period(rate)}; retry in {reset_s} s",
                retry_after=reset_s,
            )
        return window

    def _key(self, rate: limits.RateLimitItem, *ids: str) -> str:
        """The library's key for this rate and these ids, built once (the ids repeat; they name
        the rate too: `read`, or `trigger` and a job, whose rate is fixed at start-up)."""
        key = self._keys.get(ids)
        if key is None:
            if len(self._keys) >= MAX_KEYS:  # many callers over the life of a process
                self._keys.clear()
            key = self._keys[ids] = rate.key_for(*ids)
        return key

    async def _on_storage(self, call: Callable[[Storage], Awaitable[T]]) -> T:
        """`call` on the shared count while Redis answers, else on this process's own.

        The counting is the library's fixed window, as its strategy does it
        (`FixedWindowRateLimiter.hit` is the storage's `incr`), called on the storage itself:
        one `incr` per hit, and `get_expiry` only for a window shown, rather than the
        strategy's four storage calls (bench 4: they cost ~12 us of a cached read's ~29 us)."""
        if self._shared is not None and self._link is not None and self._link.up:
            try:
                async with asyncio.timeout(self._link.timeout_s * 2):
                    return await call(self._shared)
            except StorageError as exc:
                self._link.failed(exc.storage_error)
            except self._shared_errors as exc:
                # A refusal (INCR at maxmemory, a counter someone set to text) counts here
                # this once; a lost link counts here until it is back.
                self._link.failed(exc)
        return await call(self._local)


def shared_errors() -> tuple[type[BaseException], ...]:
    """What a shared count may raise besides `StorageError`: redis-py's errors, lost links."""
    from redis.exceptions import RedisError  # noqa: PLC0415 - only with REDIS_URL

    return (RedisError, OSError, TimeoutError)


def shared_storage(link: RedisLink) -> Storage:
    """The `limits` Redis storage on the link's own connections (its timeouts, no retries)."""
    from limits.aio.storage import RedisStorage  # noqa: PLC0415 - only with REDIS_URL

    return RedisStorage(
        f"async+{link.url}",
        implementation="redispy",
        key_prefix=link.key("limits"),
        # The library passes it through to redis-py, though its options are typed as scalars.
        connection_pool=link.client.connection_pool,  # type: ignore[arg-type]
    )


def _remaining(window: Window) -> int:
    return window.remaining


def _period(rate: limits.RateLimitItem) -> str:
    unit = rate.GRANULARITY.name
    return unit if rate.multiples == 1 else f"{rate.multiples} {unit}s"


def show(scope: Scope, window: Window) -> None:
    """The response carries this window's RateLimit-* headers (service.middleware)."""
    add_response_headers(scope, headers(window))


def headers(window: Window) -> list[tuple[bytes, bytes]]:
    return [
        (b"ratelimit-limit", str(window.limit).encode()),
        (b"ratelimit-remaining", str(window.remaining).encode()),
        (b"ratelimit-reset", str(window.reset_s).encode()),
    ]
