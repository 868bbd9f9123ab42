"""How often a caller may call: `[limits]` rates, counted by the `limits` library.

- `read`: every job route request of a caller, all jobs together, and `/openapi.json`.
- `trigger`: a caller's trigger requests of one job (`[jobs.<key>.limits] trigger` over it).

Over a rate the request is a 429 `RATE_LIMITED` before its body is read or Databricks is asked.
A 429 carries `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (seconds) of the
window it broke, with `Retry-After`; a trigger's answer carries those of its tightest window.

Reads are counted in this process's storage (`open_storage`: `memory://`). Triggers are counted
in the `RateCounts` given: the same kind of storage in one process, or with REDIS_URL the
replicas' count in Redis (service.scale_out.redis_rate_counts, wired by service.scale_out.wiring),
which counts alone per replica while Redis is down and together again when the link is back.
Fixed windows: one counter per key and window, the cheapest strategy every storage supports (a
caller may spend a window's rate at its end and the next window's at once: at most twice the
rate in a short burst). The windows run on the wall clock (`limits` reads `time.time()`), not
the injected Clock.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Mapping
from typing import NamedTuple, Protocol

import limits
from limits.aio.storage import Storage
from limits.storage import storage_from_string
from starlette.requests import Request
from starlette.types import Scope

from service.basics.callers import caller_of
from service.basics.errors import ConfigError, RateLimited
from service.front_door.response_headers import add_response_headers
from service.settings.rates import job_rates, parse_rate
from service.settings.toml_file import JobLimits, LimitsTable

MEMORY = "memory://"
MAX_KEYS = 50_000  # storage keys remembered (rate, name, caller[, job]); forgotten all at once
_READ_WINDOW = "sidecar.read_window"  # scope key: a trigger's read window, for its headers


class Window(NamedTuple):
    """One limit as it stands for a caller after a request: for the RateLimit-* headers."""

    limit: int
    remaining: int
    reset_s: int


class RateCounts(Protocol):
    """Where hits are counted: a `limits` storage (in this process), or the replicas' count.

    The counting is the library's fixed window, as its strategy does it
    (`FixedWindowRateLimiter.hit` is the storage's `incr`), called on the storage itself: one
    `incr` per hit, and `get_expiry` only for a window shown, rather than the strategy's four
    storage calls (bench 4: they cost ~12 us of a cached read's ~29 us).
    """

    async def incr(self, key: str, expiry: int) -> int: ...

    async def get(self, key: str) -> int: ...

    async def get_expiry(self, key: str) -> float: ...


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
        triggers: RateCounts,
        storage_uri: str = MEMORY,
    ) -> None:
        """`triggers`: where trigger hits are counted (service.scale_out.wiring.trigger_counts)."""
        self._read = parse_rate("[limits] read", table.read)
        self._trigger = parse_rate("[limits] trigger", table.trigger)
        self._job_trigger = job_rates(jobs)
        self._local = open_storage(storage_uri)
        self._triggers = triggers
        self._keys: dict[tuple[str, ...], str] = {}
        self.refusals: Counter[str] = Counter()

    async def admit(
        self, request: Request, job_key: str | None = None, *, trigger: bool = False
    ) -> None:
        """Count a request of its caller against `read`; 429 if over. For a `trigger` of
        `job_key`, also 429 if the caller has no trigger of the job left: counted only when it
        is about to reach Databricks (`admit_trigger`), so a 400 costs a read, not a trigger."""
        caller = caller_of(request).name
        trigger = trigger and job_key is not None
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
        """One hit, in the trigger counts if `shared` (the replicas' with REDIS_URL); its window
        when `shown` (or refused: 429 with it), else None. `peek`: refused if one more hit would
        be over the rate, but not counted.

        Why reads count per replica: a shared count is a Redis round trip per request, which
        cut cached reads with two workers from 10,500 to 7,000 a second (bench 7); a read limit
        guards a replica's own capacity anyway. Triggers (each a Databricks call that starts a
        run that costs money) are counted across replicas."""
        key = self._key(rate, name, *ids)
        expiry = rate.get_expiry()
        counts: RateCounts = self._triggers if shared else self._local
        count = await counts.get(key) + 1 if peek else await counts.incr(key, expiry)
        refused = count > rate.amount
        if not (shown or refused):
            return None
        ends_at = await counts.get_expiry(key)
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


def _remaining(window: Window) -> int:
    return window.remaining


def _period(rate: limits.RateLimitItem) -> str:
    unit = rate.GRANULARITY.name
    return unit if rate.multiples == 1 else f"{rate.multiples} {unit}s"


def show(scope: Scope, window: Window) -> None:
    """The response carries this window's RateLimit-* headers (front_door/response_headers.py)."""
    add_response_headers(scope, headers(window))


def headers(window: Window) -> list[tuple[bytes, bytes]]:
    return [
        (b"ratelimit-limit", str(window.limit).encode()),
        (b"ratelimit-remaining", str(window.remaining).encode()),
        (b"ratelimit-reset", str(window.reset_s).encode()),
    ]
