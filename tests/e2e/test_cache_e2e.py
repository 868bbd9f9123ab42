"""The read cache over real sockets: entries serve repeat reads, then expire and stop counting."""

from __future__ import annotations

import asyncio

import pytest

from tests.e2e.servers import stack
from tests.factories import gauge

pytestmark = pytest.mark.looptime(False)


def lookups(metrics_text: str, result: str) -> float:
    return gauge(metrics_text, f'sidecar_cache_lookups_total{{result="{result}"}}')


async def test_cached_status_expires_and_is_no_longer_counted():
    async with stack(poll_interval_ms=500, cache_ttl_ms=500) as s:
        first = await s.api.get("/api/jobs/etl/status")
        again = await s.api.get("/api/jobs/etl/status")
        metrics = (await s.api.get("/metrics")).text
        assert first.status_code == again.status_code == 200
        assert again.json() == first.json()
        assert gauge(metrics, "sidecar_cache_entries") >= 1
        assert lookups(metrics, "hit") >= 1
        deadline = asyncio.get_running_loop().time() + 5
        while gauge(metrics, "sidecar_cache_entries") != 0:  # expiry is on the service's clock
            assert asyncio.get_running_loop().time() < deadline, "expired entries still counted"
            await asyncio.sleep(0.05)
            metrics = (await s.api.get("/metrics")).text
        misses = lookups(metrics, "miss")
        assert (await s.api.get("/api/jobs/etl/status")).status_code == 200
        assert lookups((await s.api.get("/metrics")).text, "miss") > misses
