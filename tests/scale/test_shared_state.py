"""The read cache and the idempotency memory shared over a real redis-server, and its outages."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import structlog
from asgi_lifespan import LifespanManager

from service.app import create_app
from service.callers import ANONYMOUS
from service.config import Secret
from service.errors import IdempotencyKeyReused
from service.redis_link import RedisDown
from tests.factories import make_client, make_run, make_settings, transport, upstream_router
from tests.scale.replicas import RUN_ID, Upstream, replicas, until

pytestmark = pytest.mark.looptime(False)


async def test_a_read_cached_on_one_replica_is_a_hit_on_another(redis_server):
    router = upstream_router()
    upstream = Upstream(router, "RUNNING")
    async with replicas(2, redis_server.url, router) as (a, b):
        job = a.settings.jobs["etl"]
        first = await a.ops.get_run(job, a.service_principal, RUN_ID)
        second = await b.ops.get_run(job, b.service_principal, RUN_ID)
    assert upstream.polls == 1
    assert bytes(second.raw) == bytes(first.raw)
    assert second.run.life_cycle_state == "RUNNING"


async def test_a_trigger_on_one_replica_makes_the_others_status_fresh(redis_server):
    router = upstream_router()
    latest = {"run": make_run(1, state="TERMINATED", result="SUCCESS")}
    listed = router.get("/runs/list").mock(
        side_effect=lambda _: httpx.Response(200, json={"runs": [latest["run"]]})
    )
    router.post("/run-now").mock(return_value=httpx.Response(200, json={"run_id": 2}))
    async with replicas(2, redis_server.url, router) as (a, b):
        job = a.settings.jobs["etl"]
        before = await b.ops.last_run(job, b.service_principal)
        latest["run"] = make_run(2, state="PENDING")
        await a.ops.run_now(job, a.service_principal, {}, idempotency_key="k-1", caller=ANONYMOUS)
        written = asyncio.get_running_loop().time()
        after = before
        while after is not None and after.run.run_id == 1:
            # B's near copy goes when A's message arrives (a few ms), its Redis entry at once.
            await asyncio.sleep(0.001)
            after = await b.ops.last_run(job, b.service_principal)
        fresh_after = asyncio.get_running_loop().time() - written
    assert before is not None
    assert before.run.run_id == 1
    assert after is not None
    assert after.run.run_id == 2
    assert fresh_after < 0.1
    assert listed.call_count == 2


async def test_the_same_idempotency_key_on_two_replicas_starts_one_run(redis_server):
    router = upstream_router()
    run_now = router.post("/run-now").mock(return_value=httpx.Response(200, json={"run_id": 77}))
    async with replicas(2, redis_server.url, router) as (a, b):
        job = a.settings.jobs["etl"]
        on_a = await a.ops.run_now(
            job, a.service_principal, {}, idempotency_key="same", caller=ANONYMOUS
        )
        on_b = await b.ops.run_now(
            job, b.service_principal, {}, idempotency_key="same", caller=ANONYMOUS
        )
    assert on_a == on_b == 77
    assert run_now.call_count == 1  # B answered from the shared memory


async def test_a_key_reused_with_other_parameters_is_refused_on_another_replica(redis_server):
    router = upstream_router()
    router.post("/run-now").mock(return_value=httpx.Response(200, json={"run_id": 77}))
    async with replicas(2, redis_server.url, router) as (a, b):
        job = a.settings.jobs["etl"]
        one, other = {"job_parameters": {"x": "1"}}, {"job_parameters": {"x": "2"}}
        await a.ops.run_now(job, a.service_principal, one, idempotency_key="k", caller=ANONYMOUS)
        with pytest.raises(IdempotencyKeyReused) as refused:
            await b.ops.run_now(
                job, b.service_principal, other, idempotency_key="k", caller=ANONYMOUS
            )
    assert refused.value.code == "IDEMPOTENCY_KEY_REUSED"


async def test_with_redis_gone_the_replica_serves_locally_and_rejoins(redis_server):
    router = upstream_router()
    upstream = Upstream(router, "RUNNING")
    async with replicas(1, redis_server.url, router) as (a,):
        job = a.settings.jobs["etl"]
        assert a.link is not None
        assert a.link.up
        redis_server.stop()
        started = asyncio.get_running_loop().time()
        read = await a.ops.get_run(job, a.service_principal, RUN_ID)  # local cache now
        took = asyncio.get_running_loop().time() - started
        assert not a.link.up
        with pytest.raises(RedisDown):
            await a.link.run(lambda c: c.ping())
        again = await a.ops.get_run(job, a.service_principal, RUN_ID)
        redis_server.start()
        await until(lambda: a.link.up, within_s=5)
        await a.ops.get_run(job, a.service_principal, RUN_ID)
    assert read.run.life_cycle_state == again.run.life_cycle_state == "RUNNING"
    assert took < 1.0  # no hanging on a dead Redis
    assert upstream.polls == 2  # local cache while down; shared (cleared) after the rejoin
    assert a.link.changes == 2  # down once, back once


async def test_a_hung_redis_costs_one_short_timeout_then_nothing(redis_server):
    router = upstream_router()
    Upstream(router, "RUNNING")
    async with replicas(1, redis_server.url, router) as (a,):
        job = a.settings.jobs["etl"]
        redis_server.pause()
        loop = asyncio.get_running_loop()
        times = []
        for _ in range(3):
            started = loop.time()
            await a.ops.get_run(job, a.service_principal, RUN_ID)
            times.append(loop.time() - started)
        redis_server.resume()
        await until(lambda: a.link.up, within_s=5)
    # redis_timeout_ms is 500: the first read waits for it once, the next ones not at all.
    assert times[0] < 1.2
    assert max(times[1:]) < 0.1


async def test_readyz_and_metrics_say_when_redis_is_down(redis_server):
    settings = make_settings(redis_url=Secret(redis_server.url))
    app = create_app(settings, upstream=transport(upstream_router()))
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(manager.app), base_url="http://localhost"
        ) as client,
    ):
        up = (await client.get("/readyz")).json()
        up_metric = "sidecar_redis_up 1.0" in (await client.get("/metrics")).text
        with structlog.testing.capture_logs() as logs:
            redis_server.stop()
            for _ in range(100):
                down = await client.get("/readyz")
                if down.json().get("redis") == "down":
                    break
                await asyncio.sleep(0.05)
            for _ in range(10):  # requests while down: still one warning
                await client.get("/api/jobs/etl/status")
            down_metric = "sidecar_redis_up 0.0" in (await client.get("/metrics")).text
    assert up == {"status": "ready", "redis": "up"}
    assert up_metric
    assert down.status_code == 200
    assert down.json() == {"status": "ready", "redis": "down"}
    assert down_metric
    warnings = [line for line in logs if line["event"] == "redis.unreachable"]
    assert len(warnings) == 1
    assert warnings[0]["log_level"] == "warning"
    assert redis_server.url not in str(logs)


async def test_a_rate_limit_holds_across_replicas_and_per_replica_while_redis_is_gone(
    redis_server, tmp_path
):
    router = upstream_router()
    run_now = router.post("/run-now").mock(return_value=httpx.Response(200, json={"run_id": 9}))
    toml = '[jobs.etl]\njob_id = 101\n[limits]\ntrigger = "2/hour"\n'
    settings = make_settings(toml, tmp_path=tmp_path, redis_url=Secret(redis_server.url))
    async with make_client(settings, router) as a, make_client(settings, router) as b:
        shared = [await c.post("/api/jobs/etl/run", json={}) for c in (a, b, a)]
        redis_server.stop()
        alone = [await c.post("/api/jobs/etl/run", json={}) for c in (b, b, b)]
    assert [r.status_code for r in shared] == [200, 200, 429]
    assert shared[2].json()["code"] == "RATE_LIMITED"
    # Redis gone: B counts on its own from zero (it had one hit in the shared count only).
    assert [r.status_code for r in alone] == [200, 200, 429]
    assert run_now.call_count == 4


async def test_reads_are_counted_per_replica_so_a_read_costs_no_redis_round_trip(
    redis_server, tmp_path
):
    router = upstream_router()
    router.get("/runs/list").respond(json={"runs": []})
    toml = '[jobs.etl]\njob_id = 101\n[limits]\nread = "2/hour"\n'
    settings = make_settings(toml, tmp_path=tmp_path, redis_url=Secret(redis_server.url))
    async with make_client(settings, router) as a, make_client(settings, router) as b:
        answers = [await c.get("/api/jobs/etl/status") for c in (a, a, b, b, a)]
    assert [r.status_code for r in answers] == [200, 200, 200, 200, 429]


async def fresh_within(read, old, *, within_s: float = 0.1):
    """Read until the answer is no longer `old` (B's near copy goes when A's message comes)."""
    async with asyncio.timeout(within_s):
        while (answer := await read()) == old:
            await asyncio.sleep(0.001)
    return answer


async def test_a_repair_or_cancel_all_on_one_replica_makes_the_others_reads_fresh(redis_server):
    router = upstream_router()
    state = {"run": make_run(RUN_ID, state="INTERNAL_ERROR", result="FAILED")}
    router.get("/runs/get").mock(side_effect=lambda _: httpx.Response(200, json=state["run"]))
    router.get("/runs/list").mock(
        side_effect=lambda _: httpx.Response(200, json={"runs": [state["run"]]})
    )
    router.post("/runs/repair").mock(return_value=httpx.Response(200, json={"repair_id": 7}))
    router.post("/runs/cancel-all").mock(return_value=httpx.Response(200, json={}))
    async with replicas(2, redis_server.url, router) as (a, b):
        job = a.settings.jobs["etl"]

        async def run_on_b():
            return (await b.ops.get_run(job, b.service_principal, RUN_ID)).run.life_cycle_state

        async def every_run_on_b():
            runs = await b.all_runs.runs([(job, b.service_principal)], 5, active=False)
            return [bytes(r) for r in runs]

        failed, listed = await run_on_b(), await every_run_on_b()
        fields = {"rerun_all_failed_tasks": True}
        await a.repairs.repair(job, a.service_principal, RUN_ID, fields, "r-1", caller=ANONYMOUS)
        state["run"] = make_run(RUN_ID, state="PENDING")
        repaired, relisted = (
            await fresh_within(run_on_b, failed),
            await fresh_within(every_run_on_b, listed),
        )
        state["run"] = make_run(RUN_ID, state="TERMINATING")
        await a.ops.cancel_all(job, a.service_principal)
        cancelling = await fresh_within(run_on_b, repaired)
    assert (failed, repaired, cancelling) == ("INTERNAL_ERROR", "PENDING", "TERMINATING")
    assert b'"PENDING"' in relisted[0]


async def test_the_same_repair_key_on_two_replicas_makes_one_repair(redis_server):
    router = upstream_router()
    history = [{"type": "ORIGINAL"}]
    failed = make_run(RUN_ID, state="INTERNAL_ERROR", result="FAILED", repair_history=history)
    router.get("/runs/get").mock(return_value=httpx.Response(200, json=failed))
    repair = router.post("/runs/repair").mock(
        return_value=httpx.Response(200, json={"repair_id": 7})
    )
    async with replicas(2, redis_server.url, router) as (a, b):
        job, fields = a.settings.jobs["etl"], {"rerun_all_failed_tasks": True}
        on_a = await a.repairs.repair(
            job, a.service_principal, RUN_ID, fields, "k", caller=ANONYMOUS
        )
        on_b = await b.repairs.repair(
            job, b.service_principal, RUN_ID, fields, "k", caller=ANONYMOUS
        )
    assert on_a == on_b == 7
    assert repair.call_count == 1  # B answered from the shared memory
