"""Retries over real sockets: throttling, 5xx and slowness from the emulator, retried within
the read tier, then answered."""

from __future__ import annotations

import pytest

from tests.e2e.servers import fault, stack, stats

pytestmark = pytest.mark.looptime(False)


async def test_a_429_storm_is_retried_honouring_retry_after():
    async with stack() as s:
        await fault(s, endpoint="runs/list", status=429, count=2, retry_after=0)
        response = await s.api.get("/api/jobs/etl/status")
        assert response.status_code == 200
        assert (await stats(s))["calls"]["runs/list"] == 3


async def test_persistent_429_is_503_with_retry_after():
    async with stack() as s:
        await fault(s, endpoint="runs/list", status=429, count=10, retry_after=0)
        response = await s.api.get("/api/jobs/etl/status")
    assert response.status_code == 503
    assert response.headers["retry-after"]


async def test_503s_then_success():
    async with stack() as s:
        await fault(s, endpoint="jobs/get", status=503, count=2)
        response = await s.api.get("/api/jobs/etl")
        assert response.status_code == 200
        assert (await stats(s))["calls"]["jobs/get"] == 3


async def test_latency_past_the_read_timeout_is_504():
    async with stack(timeout_ms=200) as s:
        await fault(s, endpoint="jobs/get", latency_ms=1000, count=3)
        response = await s.api.get("/api/jobs/etl")
    assert response.status_code == 504
    assert response.json()["code"] == "UPSTREAM_TIMEOUT"
