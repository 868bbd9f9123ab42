"""Scale-out wiring: with REDIS_URL, the replicas' shared cache store, key memory, hub and
trigger counts; without it (or while Redis is down), each one's local twin.

Every long-lived Redis task starts under `supervise` (service/scale_out/redis_tasks.py): a
crash in one restarts it, and never ends the lifespan's task group. The Redis modules are
imported here only when REDIS_URL is set: redis-py and aiocache's Redis backend cost ~7 MB of
RSS a process that does not use them would carry.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from anyio.abc import TaskGroup

from service.basics.clock import Clock
from service.cache.store import CacheStore, MemoryStore
from service.front_door.rate_limits import MEMORY, RateCounts, open_storage
from service.jobs.key_memory import KeyMemory, LocalKeyMemory
from service.jobs.operations import JobOperations
from service.runs.hub import Hub, PollerHub
from service.scale_out.redis_tasks import supervise
from service.settings.config import Settings

if TYPE_CHECKING:
    from service.scale_out.redis_link import RedisLink


@asynccontextmanager
async def open_link(settings: Settings, clock: Clock) -> AsyncIterator[RedisLink | None]:
    """The link to Redis when REDIS_URL is set (None otherwise), asked once before serving.

    A Redis that does not answer within the timeout does not stop start-up: the replica
    serves in local mode and the circuit keeps asking (see service/scale_out/redis_link.py).
    """
    if settings.redis_url is None:
        yield None
        return
    from service.scale_out.redis_link import RedisLink  # noqa: PLC0415 - only with REDIS_URL

    link = RedisLink(
        settings.redis_url.value,
        timeout_s=settings.redis_timeout_ms / 1000,
        prefix=settings.redis_prefix,
        clock=clock,
    )
    try:
        await link.probe()
        yield link
    finally:
        await link.close()


def cache_store(
    link: RedisLink | None, clock: Clock, settings: Settings, tasks: TaskGroup
) -> CacheStore:
    local = MemoryStore(clock, max_entries=settings.cache_max_entries)
    if link is None:
        return local
    from service.scale_out.redis_cache import FailoverStore  # noqa: PLC0415 - only with REDIS_URL

    store = FailoverStore(link, local)
    tasks.start_soon(supervise, link.health, clock, "listener", lambda: store.listen(clock))
    return store


def key_memory(link: RedisLink | None, clock: Clock, settings: Settings) -> KeyMemory:
    ttl_s = settings.idempotency_ttl_ms / 1000
    local = LocalKeyMemory(clock, max_keys=settings.idempotency_max_keys, ttl_s=ttl_s)
    if link is None:
        return local
    from service.scale_out.redis_key_memory import RedisKeyMemory  # noqa: PLC0415 - only with REDIS_URL

    return RedisKeyMemory(link, local, ttl_s=ttl_s)


def hub(
    link: RedisLink | None,
    ops: JobOperations,
    settings: Settings,
    clock: Clock,
    tasks: TaskGroup,
) -> Hub:
    if link is None:
        return PollerHub(ops, settings, clock, tasks)
    from service.scale_out.redis_hub import RedisHub  # noqa: PLC0415 - only with REDIS_URL

    return RedisHub(ops, settings, clock, tasks, link)


def trigger_counts(link: RedisLink | None) -> RateCounts:
    """Where the front door counts triggers (service.front_door.rate_limits): across replicas with
    Redis."""
    local = open_storage(MEMORY)
    if link is None:
        return local
    from service.scale_out.redis_rate_counts import RedisRateCounts  # noqa: PLC0415 - REDIS_URL

    return RedisRateCounts(link, local)
