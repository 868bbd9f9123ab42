"""The read cache: hits, expiry on a driven clock, single flight, bounds, invalidation."""

from __future__ import annotations

import asyncio

from service.basics.clock import LoopClock
from service.cache.read_cache import CacheKey, ReadCache
from tests.factories import advance, counting_loader


async def test_second_read_is_served_from_cache():
    cache = ReadCache(LoopClock(), max_entries=10)
    load, calls = counting_loader()
    key = CacheKey("sp", "etl", "get_job")
    assert await cache.get_or_load(key, load, lambda _: 60) == "v1"
    assert await cache.get_or_load(key, load, lambda _: 60) == "v1"
    assert len(calls) == 1


async def test_entry_expires_after_its_ttl():
    cache = ReadCache(LoopClock(), max_entries=10)
    load, calls = counting_loader()
    key = CacheKey("sp", "etl", "get_job")
    await cache.get_or_load(key, load, lambda _: 60)
    await advance(59)
    await cache.get_or_load(key, load, lambda _: 60)
    assert len(calls) == 1
    await advance(2)
    assert await cache.get_or_load(key, load, lambda _: 60) == "v2"


async def test_concurrent_identical_reads_share_one_call():
    cache = ReadCache(LoopClock(), max_entries=10)
    load, calls = counting_loader()
    key = CacheKey("sp", "etl", "list_runs", "20")
    results = await asyncio.gather(*(cache.get_or_load(key, load, lambda _: 5) for _ in range(50)))
    assert set(results) == {"v1"}
    assert len(calls) == 1


async def test_failures_are_shared_but_never_cached():
    cache = ReadCache(LoopClock(), max_entries=10)
    calls = []

    async def failing():
        calls.append(1)
        await advance(0.1)
        raise RuntimeError("upstream down")

    key = CacheKey("sp", "etl", "get_job")
    results = await asyncio.gather(
        *(cache.get_or_load(key, failing, lambda _: 60) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, RuntimeError) for r in results)
    load, _ = counting_loader()
    assert await cache.get_or_load(key, load, lambda _: 60) == "v1"
    assert len(calls) == 1


async def test_identities_do_not_share_entries():
    cache = ReadCache(LoopClock(), max_entries=10)
    load, calls = counting_loader()
    await cache.get_or_load(CacheKey("user:a", "etl", "last_run"), load, lambda _: 60)
    await cache.get_or_load(CacheKey("user:b", "etl", "last_run"), load, lambda _: 60)
    assert len(calls) == 2


async def test_invalidation_forgets_the_jobs_lists_only():
    cache = ReadCache(LoopClock(), max_entries=10)
    load, calls = counting_loader()
    keys = [
        CacheKey("sp", "etl", "last_run"),
        CacheKey("sp", "etl", "get_job"),
        CacheKey("sp", "report", "last_run"),
    ]
    for key in keys:
        await cache.get_or_load(key, load, lambda _: 60)
    await cache.invalidate("etl", frozenset({"last_run"}))
    for key in keys:
        await cache.get_or_load(key, load, lambda _: 60)
    assert len(calls) == 4


async def test_a_read_in_flight_during_a_write_is_not_kept():
    cache = ReadCache(LoopClock(), max_entries=10)
    load, _calls = counting_loader()
    key = CacheKey("sp", "etl", "last_run")
    flight = asyncio.create_task(cache.get_or_load(key, load, lambda _: 60))
    await advance(0.05)
    await cache.invalidate("etl", frozenset({"last_run"}))
    assert await flight == "v1"
    assert await cache.get_or_load(key, load, lambda _: 60) == "v2"


async def test_zero_ttl_is_not_stored():
    cache = ReadCache(LoopClock(), max_entries=10)
    load, calls = counting_loader()
    key = CacheKey("sp", "etl", "get_run", "1")
    await cache.get_or_load(key, load, lambda _: 0)
    await cache.get_or_load(key, load, lambda _: 0)
    assert len(calls) == 2


async def test_a_cancelled_leader_does_not_fail_its_followers():
    cache = ReadCache(LoopClock(), max_entries=10)
    load, _calls = counting_loader()
    key = CacheKey("sp", "etl", "get_job")
    leader = asyncio.create_task(cache.get_or_load(key, load, lambda _: 60))
    await advance(0)
    follower = asyncio.create_task(cache.get_or_load(key, load, lambda _: 60))
    await advance(0.01)
    leader.cancel()
    assert await follower == "v2"


async def test_a_cached_none_is_a_hit():
    cache = ReadCache(LoopClock(), max_entries=10)
    calls = []

    async def nothing_yet():
        calls.append(1)

    key = CacheKey("sp", "etl", "last_run")
    assert await cache.get_or_load(key, nothing_yet, lambda _: 60) is None
    assert await cache.get_or_load(key, nothing_yet, lambda _: 60) is None
    assert len(calls) == 1
    assert (cache.hits, cache.misses) == (1, 1)
