"""The read tier's cache: a TTL per value, one flight per key, invalidation by job generation.

Why not aiocache's `@cached` decorator: we need a TTL that depends on the value (a finished run
never changes, an active one does), invalidation of a job's lists after a write, and expiry on a
clock tests can drive. The entries live in a `CacheStore` (service/cache/store.py says why it is
our own dict); this module adds what a store does not: single flight and write generations.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from service.basics.clock import Clock
from service.cache.key import CacheKey
from service.cache.store import CacheStore, MemoryStore

__all__ = ["CacheKey", "ReadCache"]

T = TypeVar("T")


class ReadCache:
    """Cache for immutable values (frozen structs, bytes): callers cannot change what it holds."""

    def __init__(self, clock: Clock, *, max_entries: int, store: CacheStore | None = None) -> None:
        self._store = store if store is not None else MemoryStore(clock, max_entries=max_entries)
        self._flights: dict[tuple[CacheKey, int], asyncio.Future[Any]] = {}
        self._generation: dict[str, int] = {}
        self.hits = 0
        self.misses = 0

    async def get_or_load(
        self, key: CacheKey, load: Callable[[], Awaitable[T]], ttl: Callable[[T], float]
    ) -> T:
        """The cached value, or one shared call of `load`; failures are never cached."""
        cached = await self._store.get(key)
        if cached is not None:
            self.hits += 1
            return cached[0]  # type: ignore[return-value]
        generation = self._generation.get(key.job, 0)
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
            if self._generation.get(key.job, 0) == generation:
                await self._store.set(key, value, ttl(value))
            return value
        finally:
            del self._flights[(key, generation)]

    async def invalidate(self, job: str, calls: frozenset[str]) -> None:
        """Forget `calls` of `job` for every identity (after a trigger or a cancel)."""
        self._generation[job] = self._generation.get(job, 0) + 1
        await self._store.forget(job, calls)

    def __len__(self) -> int:
        """Live entries (expired ones are not counted)."""
        return len(self._store)
