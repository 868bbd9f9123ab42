"""Rate-limit counts that replicas share: the `limits` library's Redis storage on the link.

Triggers are counted across replicas (each is a Databricks call that starts a run that costs
money); reads stay per replica (service.front_door.rate_limits). While Redis is down each replica
counts alone, in its own storage, so a limit then holds per replica; the shared count resumes when
the link is back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from limits.aio.storage import RedisStorage, Storage
from limits.errors import StorageError
from redis.exceptions import RedisError

from service.front_door.rate_limits import RateCounts
from service.scale_out.redis_link import RedisLink

T = TypeVar("T")


class RedisRateCounts:
    """`RateCounts` in Redis while the link is up, else in `local` (this process's)."""

    def __init__(self, link: RedisLink, local: RateCounts) -> None:
        self._link = link
        self._local = local
        self._shared = shared_storage(link)

    async def incr(self, key: str, expiry: int) -> int:
        return await self._on_storage(lambda counts: counts.incr(key, expiry))

    async def get(self, key: str) -> int:
        return await self._on_storage(lambda counts: counts.get(key))

    async def get_expiry(self, key: str) -> float:
        return await self._on_storage(lambda counts: counts.get_expiry(key))

    async def _on_storage(self, call: Callable[[RateCounts], Awaitable[T]]) -> T:
        """`call` on the shared count while Redis answers, else on this process's own."""
        if self._link.up:
            try:
                async with asyncio.timeout(self._link.timeout_s * 2):
                    return await call(self._shared)
            except StorageError as exc:
                self._link.failed(exc.storage_error)
            except (RedisError, OSError, TimeoutError) as exc:
                # A refusal (INCR at maxmemory, a counter someone set to text) counts here
                # this once; a lost link counts here until it is back.
                self._link.failed(exc)
        return await call(self._local)


def shared_storage(link: RedisLink) -> Storage:
    """The `limits` Redis storage on the link's own connections (its timeouts, no retries)."""
    return RedisStorage(
        f"async+{link.url}",
        implementation="redispy",
        key_prefix=link.key("limits"),
        # The library passes it through to redis-py, though its options are typed as scalars.
        connection_pool=link.client.connection_pool,  # type: ignore[arg-type]
    )
