"""The read tier's cache: explicit keys, a TTL per value, a size bound and one flight per key.

Why not aiocache's `@cached` decorator: we need a TTL that depends on the value (a finished run
never changes, an active one does), invalidation of a job's lists after a write, and expiry on a
clock tests can drive. aiocache's memory backend holds the entries; we bound it (oldest out
first) and check expiry against our clock rather than the loop's timers.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiocache import SimpleMemoryCache

from service.clock import Clock

T = TypeVar("T")


class CacheKey(tuple[str, str, str, str]):
    """(identity, job key, call, arguments): one user's result never serves another."""

    __slots__ = ()

    def __new__(cls, identity: str, job: str, call: str, args: str = "") -> CacheKey:
        return super().__new__(cls, (identity, job, call, args))

    @property
    def text(self) -> str:
        return "\x1f".join(self)


class ReadCache:
    """Cache for immutable values (frozen structs, bytes): callers cannot change what it holds."""

    def __init__(self, clock: Clock, *, max_entries: int) -> None:
        self._clock = clock
        self._max = max_entries
        # timeout=None: aiocache's default wraps every get in asyncio.wait_for, a task per read.
        self._store = SimpleMemoryCache(timeout=None)
        self._order: OrderedDict[CacheKey, None] = OrderedDict()
        self._flights: dict[tuple[CacheKey, int], asyncio.Future[Any]] = {}
        self._generation: dict[str, int] = {}
        self.hits = 0
        self.misses = 0

    async def get_or_load(
        self, key: CacheKey, load: Callable[[], Awaitable[T]], ttl: Callable[[T], float]
    ) -> T:
        """The cached value, or one shared call of `load`; failures are never cached."""
        # Why `_get`: the public `get` adds plugin hooks, an environment lookup and a timing log
        # line to every read, a fifth of a cached request's time. The memory backend's `_get` is
        # the plain dict lookup behind it (aiocache is pinned below 0.13 for this).
        entry = await self._store._get(key.text)
        if entry is not None and entry[0] > self._clock.monotonic():
            self.hits += 1
            return entry[1]  # type: ignore[no-any-return,unused-ignore]
        generation = self._generation.get(key[1], 0)
        flight = self._flights.get((key, generation))
        if flight is not None:
            self.hits += 1
            try:
                return await asyncio.shield(flight)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if not flight.cancelled() or (task is not None and task.cancelling()):
                    raise
                # The caller who led the flight went away; we did not: load it ourselves.
                return await self.get_or_load(key, load, ttl)
        self.misses += 1
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._flights[(key, generation)] = future
        try:
            value = await load()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: a flight nobody joined must not warn
            raise
        else:
            future.set_result(value)
            # A write to this job while we were loading makes our answer stale: serve it to
            # those who asked before the write, but do not keep it.
            if self._generation.get(key[1], 0) == generation:
                await self._put(key, value, ttl(value))
            return value
        finally:
            del self._flights[(key, generation)]

    async def invalidate(self, job: str, calls: frozenset[str]) -> None:
        """Forget `calls` of `job` for every identity (after a trigger or a cancel)."""
        self._generation[job] = self._generation.get(job, 0) + 1
        for key in [k for k in self._order if k[1] == job and k[2] in calls]:
            del self._order[key]
            await self._store.delete(key.text)

    async def _put(self, key: CacheKey, value: object, ttl_s: float) -> None:
        if ttl_s <= 0:
            return
        # The loop-time TTL frees memory; the clock-time stamp decides freshness.
        await self._store.set(key.text, (self._clock.monotonic() + ttl_s, value), ttl=ttl_s + 1)
        self._order[key] = None
        self._order.move_to_end(key)
        while len(self._order) > self._max:
            oldest, _ = self._order.popitem(last=False)
            await self._store.delete(oldest.text)

    def __len__(self) -> int:
        return len(self._order)
