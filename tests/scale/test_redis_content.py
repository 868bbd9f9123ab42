"""What the replicas read from a real redis-server is untrusted: a value that does not fit is
dropped (or a miss), logged at most once a minute, never a 500, never relayed to a client."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
import structlog

from service.config import Secret
from service.emulator import ManualClock, Scenario, create_emulator_app
from service.runs.subscription import End
from tests.e2e.servers import running
from tests.factories import gauge, make_client, make_settings, upstream_router
from tests.scale.cluster import PARAMS, Watcher, advance, cluster, trigger
from tests.scale.replicas import RUN_ID, Upstream, collect, replicas, run_key, until, watch

pytestmark = pytest.mark.looptime(False)
FORGET = "jobs-sidecar:cache-forget"
OUR_ID = re.compile(r"^[0-9a-f]{8}-[1-9][0-9]*$")


async def test_a_forget_message_of_invalid_utf8_leaves_every_replica_serving(
    tmp_path, redis_server
):
    async with (
        running(create_emulator_app(Scenario.demo(), clock=ManualClock())) as emulator_url,
        cluster(tmp_path, emulator_url, redis_server.url, count=2) as (a, b),
        httpx.AsyncClient(timeout=10) as client,
    ):
        with redis_server.client() as raw:
            await until(lambda: raw.pubsub_numsub(FORGET) == [(FORGET.encode(), 2)])
            heard = [raw.publish(FORGET, b"\xff\xfe") for _ in range(3)]
            await asyncio.sleep(0.5)  # the messages arrive (they once ended the lifespan)
            listening = raw.pubsub_numsub(FORGET)[0][1]
        answers = [
            await client.get(f"{r.url}/api/jobs/etl/status") for r in (a, b) for _ in range(2)
        ]
        triggered = [await client.post(f"{r.url}/api/jobs/etl/run", json=PARAMS) for r in (a, b)]
        ready = [(await client.get(f"{r.url}/readyz")).json() for r in (a, b)]
        metrics = [(await client.get(f"{r.url}/metrics")).text for r in (a, b)]
        # The listener is still there: a trigger on A still refreshes B's status at once.
        again = await trigger(a.url)
        fresh = (await client.get(f"{b.url}/api/jobs/etl/status")).json()
    assert heard[0] == 2
    assert listening == 2
    assert [r.status_code for r in answers + triggered] == [200] * 6
    assert ready == [{"status": "ready", "redis": "up"}] * 2
    for text in metrics:
        assert gauge(text, 'sidecar_redis_rejected_total{what="forget"}') == 3
        for task in ("circuit", "listener", "reader", "lease"):
            assert gauge(text, f'sidecar_redis_task_restarts_total{{task="{task}"}}') == 0
    assert fresh["run"]["run_id"] == again
    for replica in (a, b):
        dropped = [x for x in replica.lines if x.get("event") == "redis.rejected"]
        assert [(x["what"], x["level"]) for x in dropped] == [("forget", "warning")]  # 1 of 3
        assert not [x for x in replica.lines if x.get("event") == "http.unhandled_error"]


@pytest.mark.parametrize(
    "message",
    [b"\xff\xfe", b"", b"etl", b"etl\x1f", b"\x1flast_run", b"etl\x1flast_run\x1fx", b"e\ntl\x1fa"],
)
async def test_a_forget_message_that_does_not_fit_is_dropped(redis_server, message):
    router = upstream_router()
    Upstream(router, "RUNNING")
    async with replicas(1, redis_server.url, router) as (a,):
        assert a.link is not None
        with redis_server.client() as raw:
            await until(lambda: raw.pubsub_numsub(FORGET) == [(FORGET.encode(), 1)])
            raw.publish(FORGET, message)
        await until(lambda: a.link.health.rejected["forget"] == 1, within_s=5)
        read = await a.ops.get_run(a.settings.jobs["etl"], a.service_principal, RUN_ID)
    assert read.run.run_id == RUN_ID
    assert a.link.up


@pytest.mark.parametrize(
    "foreign",
    [
        b"\xff\xfe",
        b"not json",
        b"[]",
        b'{"digest": 5}',
        b'{"digest": "abc"}',
        b'{"digest": "' + b"a" * 64 + b'", "run_id": "77"}',
        b'{"digest": "' + b"a" * 64 + b'", "run_id": -1}',
        b'{"digest": "' + b"a" * 64 + b'", "run_id": 7, "more": 1}',
    ],
)
async def test_a_foreign_idempotency_record_is_a_miss_and_then_ours(redis_server, foreign):
    router = upstream_router()
    run_now = router.post("/run-now").mock(return_value=httpx.Response(200, json={"run_id": 77}))
    settings = make_settings(redis_url=Secret(redis_server.url))
    headers = {"Idempotency-Key": "order-1"}
    async with make_client(settings, router) as client:
        first = await client.post("/api/jobs/etl/run", json={}, headers=headers)
        with redis_server.client() as raw:
            (key,) = raw.keys("jobs-sidecar:idem:*")
            raw.set(key, foreign, px=60_000)
            again = await client.post("/api/jobs/etl/run", json={}, headers=headers)
            stored = raw.get(key)
            ttl_ms = raw.pttl(key)
        other = await client.post(
            "/api/jobs/etl/run", json={"params": {"job_parameters": {"x": "2"}}}, headers=headers
        )
    assert first.status_code == again.status_code == 200
    assert again.json()["runId"] == 77  # the same token: Databricks answers the same run
    assert run_now.call_count == 2
    assert stored != foreign  # repaired: our record again, with its TTL
    assert ttl_ms > 0
    assert other.status_code == 422
    assert other.json()["code"] == "IDEMPOTENCY_KEY_REUSED"


@pytest.mark.parametrize(
    "fields",
    [
        {"x": "1"},
        {"e": "00000000", "s": "9", "t": "0"},
        {"e": "00000000", "s": "nine", "t": "0", "r": "{}"},
        {"e": "00000000", "s": "1e3", "t": "0", "r": "{}"},
        {"e": b"\xff\xfe", "s": "9", "t": "0", "r": "{}"},
        {"e": "0\n\nevent: error", "s": "9", "t": "0", "r": "{}"},
        {"e": "00000000", "s": "9", "t": "0", "r": b"\xff\xfe"},
        {"e": "00000000", "s": "9", "t": "0", "r": "[1, 2]"},
        {"e": "00000000", "s": "9", "t": "0", "r": '{"run_id": 1, "job_id": 101}'},
        {"e": "00000000", "s": "9", "t": "0", "r": "{}", "extra": "1"},
    ],
)
async def test_a_junk_stream_entry_is_dropped_not_a_500(redis_server, fields):
    router = upstream_router()
    upstream = Upstream(router, "PENDING")
    async with replicas(2, redis_server.url, router) as (a, b):
        first = await watch(a)
        pending = await first.next()
        with redis_server.client() as raw:
            raw.xadd(run_key(RUN_ID, "events"), fields)
        joined = await watch(b)  # the junk is in the history B loads
        upstream.state = "TERMINATED"
        on_a, on_b = await asyncio.gather(collect(first), collect(joined))
    assert pending.status == "PENDING"
    assert [i.status for i in on_b if not isinstance(i, End)] == ["PENDING", "TERMINATED"]
    assert [i.status for i in on_a if not isinstance(i, End)] == ["TERMINATED"]
    assert on_a[-1].reason == on_b[-1].reason == "done"
    assert a.link is not None
    assert a.link.health.rejected["entry"] >= 1
    assert a.link.changes == 0


async def test_an_epoch_holding_newlines_never_reaches_a_watcher(tmp_path, redis_server):
    injected = 'x\n\nevent: error\ndata: {"injected": true}\n\nid: y'
    async with (
        running(create_emulator_app(Scenario.demo(), clock=ManualClock())) as emulator_url,
        cluster(tmp_path, emulator_url, redis_server.url, count=2) as (a, b),
    ):
        run_id = await trigger(a.url)
        with redis_server.client() as raw:
            raw.set(run_key(run_id, "epoch"), injected.encode(), px=300_000)
        watcher = Watcher(b.url, run_id)
        watching = asyncio.create_task(watcher.run())
        await asyncio.wait_for(watcher.opened.wait(), 10)
        await asyncio.sleep(1.5)
        await advance(emulator_url, 3_600_000)
        await asyncio.wait_for(watching, 10)
    events = [e for e in watcher.events if e != {"retry": "3000"}]
    assert [e.get("event") for e in events] == ["message"] * len(events)
    assert all(OUR_ID.match(e["id"]) for e in events)
    assert "injected" not in str(watcher.events)
    assert watcher.statuses[-1] == "TERMINATED"
    assert [x["what"] for x in b.lines if x.get("event") == "redis.rejected"] == ["epoch"]


@pytest.mark.parametrize("expiry", [{}, {"ex": 3600}], ids=["no TTL", "an hour"])
async def test_a_lease_that_would_never_expire_is_taken_over(redis_server, expiry):
    router = upstream_router()
    upstream = Upstream(router, "PENDING")
    with redis_server.client() as raw:
        raw.set(run_key(RUN_ID, "lease"), b"someone-else", **expiry)
    async with replicas(1, redis_server.url, router) as (a,):
        follower = await watch(a)
        first = await asyncio.wait_for(follower.next(), 5)
        upstream.state = "TERMINATED"
        rest = await collect(follower, within_s=5)
        with redis_server.client() as raw:
            held_for_ms = raw.pttl(run_key(RUN_ID, "lease"))
    assert first.status == "PENDING"
    assert rest[-1].reason == "done"
    assert a.hub.polls >= 1
    assert held_for_ms <= 1500  # ours now (or released): at most one lease of 1.5 intervals


async def test_a_polled_time_that_is_not_a_number_is_a_miss(redis_server):
    router = upstream_router()
    upstream = Upstream(router, "PENDING")
    async with replicas(1, redis_server.url, router) as (a,):
        follower = await watch(a)
        first = await asyncio.wait_for(follower.next(), 5)
        with redis_server.client() as raw:
            raw.set(run_key(RUN_ID, "polled"), b"yesterday", px=60_000)
            raw.delete(run_key(RUN_ID, "lease"))  # the holder takes it again, and reads `polled`
        upstream.state = "TERMINATED"
        rest = await collect(follower, within_s=5)
    assert first.status == "PENDING"
    assert rest[-1].reason == "done"
    assert a.link is not None
    assert a.link.changes == 0  # a script's error is not a lost link


async def test_a_stream_key_of_another_type_sends_its_watchers_local(redis_server):
    router = upstream_router()
    upstream = Upstream(router, "PENDING")
    async with replicas(2, redis_server.url, router) as (a, b):
        followers = [await watch(a), await watch(b)]
        await asyncio.gather(*(f.next() for f in followers))
        with redis_server.client() as raw:
            raw.delete(run_key(RUN_ID, "events"))
            raw.set(run_key(RUN_ID, "events"), b"not a stream")
        with structlog.testing.capture_logs() as logs:
            upstream.state = "TERMINATED"
            endings = await asyncio.gather(*(collect(f) for f in followers))
    assert all(items[-1].reason == "done" for items in endings)
    assert all(items[-2].status == "TERMINATED" for items in endings)
    assert a.link is not None
    assert b.link is not None
    assert a.link.changes == b.link.changes == 0
    assert "redis.unreachable" not in [x["event"] for x in logs]


@pytest.mark.parametrize(
    "entry",
    [b'["raw", {"run_id": 555}]', b'["raws", [1, 2]]', b'["none", null]', b'["none", 1]', b"\xff"],
)
async def test_a_cached_read_of_another_shape_is_a_miss(redis_server, entry):
    router = upstream_router()
    upstream = Upstream(router, "RUNNING")
    async with replicas(2, redis_server.url, router) as (a, b):
        job = a.settings.jobs["etl"]
        await a.ops.get_run(job, a.service_principal, RUN_ID)
        with redis_server.client() as raw:
            (key,) = raw.keys("jobs-sidecar:cache:etl:get_run*")
            raw.set(key, entry, px=60_000)
        read = await b.ops.get_run(job, b.service_principal, RUN_ID)  # B has no near copy
    assert read.run.run_id == RUN_ID
    assert upstream.polls == 2  # read afresh
    assert b.link is not None
    assert b.link.health.rejected["cache"] == 1
