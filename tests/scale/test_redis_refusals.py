"""A real redis-server at its `maxmemory` (noeviction): writes are refused, the link stays up,
each refused operation is done locally, and an Idempotency-Key stays bound to its parameters."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import structlog

from service.config import Secret
from service.runs.subscription import End
from tests.factories import gauge, make_client, make_settings, upstream_router
from tests.scale.replicas import Upstream, collect, replicas, watch

pytestmark = pytest.mark.looptime(False)
KEY = {"Idempotency-Key": "order-7"}
ONE = {"params": {"job_parameters": {"x": "1"}}}
OTHER = {"params": {"job_parameters": {"x": "2"}}}


def runs(router):
    counter = iter(range(70, 1000))
    return router.post("/run-now").mock(
        side_effect=lambda _: httpx.Response(200, json={"run_id": next(counter)})
    )


async def test_under_maxmemory_the_link_stays_up_and_requests_are_served(redis_server):
    router = upstream_router()
    router.get("/runs/list").respond(json={"runs": []})
    run_now = runs(router)
    settings = make_settings(redis_url=Secret(redis_server.url))
    async with make_client(settings, router) as client:
        redis_server.refuse_writes()
        with structlog.testing.capture_logs() as logs:
            answers = []
            for _ in range(5):
                answers.append(await client.get("/api/jobs/etl/status"))
                answers.append(await client.post("/api/jobs/etl/run", json={}))
                await asyncio.sleep(0.3)  # the circuit's PING answers meanwhile
            ready = (await client.get("/readyz")).json()
            metrics = (await client.get("/metrics")).text
    assert [a.status_code for a in answers] == [200] * 10
    assert run_now.call_count == 5
    assert ready == {"status": "ready", "redis": "degraded"}
    assert gauge(metrics, "sidecar_redis_up") == 1
    assert gauge(metrics, 'sidecar_redis_refused_total{error="OutOfMemoryError"}') >= 5
    events = [x["event"] for x in logs]
    assert "redis.unreachable" not in events  # an OOM reply is not a dead link: no flapping
    assert "redis.connected" not in events
    assert events.count("redis.refused") == 1  # once a minute, not once a request


async def test_under_maxmemory_a_key_reused_with_other_parameters_is_still_a_422(redis_server):
    router = upstream_router()
    run_now = runs(router)
    settings = make_settings(redis_url=Secret(redis_server.url))
    async with make_client(settings, router) as a, make_client(settings, router) as b:
        first = await a.post("/api/jobs/etl/run", json=ONE, headers=KEY)
        redis_server.refuse_writes()
        other = await b.post("/api/jobs/etl/run", json=OTHER, headers=KEY)
        same = await b.post("/api/jobs/etl/run", json=ONE, headers=KEY)
    assert first.status_code == 200
    assert other.status_code == 422  # B never saw the key: Redis, read-only now, still knows it
    assert other.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert same.json()["runId"] == first.json()["runId"]
    assert run_now.call_count == 1


async def test_under_maxmemory_a_new_key_is_bound_to_its_parameters_locally(redis_server):
    router = upstream_router()
    run_now = runs(router)
    settings = make_settings(redis_url=Secret(redis_server.url))
    async with make_client(settings, router) as a:
        redis_server.refuse_writes()
        first = await a.post("/api/jobs/etl/run", json=ONE, headers=KEY)
        other = await a.post("/api/jobs/etl/run", json=OTHER, headers=KEY)
        same = await a.post("/api/jobs/etl/run", json=ONE, headers=KEY)
    assert first.status_code == 200
    assert other.status_code == 422
    assert same.json()["runId"] == first.json()["runId"]
    assert run_now.call_count == 1


async def test_under_maxmemory_watchers_on_two_replicas_see_their_run_end(redis_server):
    router = upstream_router()
    upstream = Upstream(router, "PENDING")
    async with replicas(2, redis_server.url, router) as (a, b):
        redis_server.refuse_writes()
        followers = [await watch(a), await watch(b)]
        firsts = await asyncio.gather(*(asyncio.wait_for(f.next(), 5) for f in followers))
        upstream.state = "TERMINATED"
        endings = await asyncio.gather(*(collect(f) for f in followers))
    assert [f.status for f in firsts] == ["PENDING", "PENDING"]
    assert all(isinstance(e[-1], End) and e[-1].reason == "done" for e in endings)
    assert a.link is not None
    assert b.link is not None
    assert a.link.changes == b.link.changes == 0
