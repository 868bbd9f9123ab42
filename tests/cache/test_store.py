"""The cache's store: one expiry on the injected clock, one size bound (oldest out, expired
first), seen through the read cache."""

from __future__ import annotations

from service.basics.clock import LoopClock
from service.cache.read_cache import CacheKey, ReadCache
from service.cache.store import SWEEP_S, MemoryStore
from tests.factories import advance, counting_loader


async def test_cache_is_bounded_oldest_out():
    cache = ReadCache(LoopClock(), max_entries=3)
    load, calls = counting_loader()
    for i in range(5):
        await cache.get_or_load(CacheKey("sp", "etl", "get_run", str(i)), load, lambda _: 60)
    assert len(cache) == 3
    await cache.get_or_load(CacheKey("sp", "etl", "get_run", "0"), load, lambda _: 60)
    assert len(calls) == 6


class HandClock(LoopClock):
    """A clock that moves only when the test says so (the loop's clock may run on)."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


async def test_expiry_follows_the_injected_clock_only():
    clock = HandClock()
    cache = ReadCache(clock, max_entries=10)
    load, calls = counting_loader()
    key = CacheKey("sp", "etl", "get_job")
    await cache.get_or_load(key, load, lambda _: 60)
    await advance(120)  # the loop runs on; the injected clock has not moved
    assert await cache.get_or_load(key, load, lambda _: 60) == "v1"
    assert len(cache) == 1
    clock.now = 61
    assert await cache.get_or_load(key, load, lambda _: 60) == "v2"
    assert len(calls) == 2


async def test_expired_entries_are_not_counted():
    cache = ReadCache(LoopClock(), max_entries=10)
    load, _calls = counting_loader()
    await cache.get_or_load(CacheKey("sp", "etl", "get_run", "1"), load, lambda _: 5)
    await cache.get_or_load(CacheKey("sp", "etl", "get_job"), load, lambda _: 60)
    assert len(cache) == 2
    await advance(5.5)
    assert len(cache) == 1


async def test_a_live_entry_is_not_pushed_out_by_expired_ones():
    cache = ReadCache(LoopClock(), max_entries=2)
    load, calls = counting_loader()
    keep = CacheKey("sp", "etl", "get_job")
    await cache.get_or_load(keep, load, lambda _: 60)
    await cache.get_or_load(CacheKey("sp", "etl", "get_run", "1"), load, lambda _: 1)
    await advance(2)
    await cache.get_or_load(CacheKey("sp", "etl", "get_run", "2"), load, lambda _: 60)
    assert await cache.get_or_load(keep, load, lambda _: 60) == "v1"
    assert len(calls) == 3
    assert len(cache) == 2


async def test_expired_entries_go_within_a_sweep_interval_though_nothing_reads_them():
    """A busy service below the bound must not hold every expired run it ever read (10,000
    snapshots of a few KB each): writes drop the expired entries once per sweep interval."""
    clock = HandClock()
    store = MemoryStore(clock, max_entries=10_000)
    for i in range(100):
        await store.set(CacheKey("sp", "etl", "get_run", str(i)), "run", 5)
    clock.now = SWEEP_S
    await store.set(CacheKey("sp", "etl", "get_job"), "job", 600)
    assert store.held == 1
