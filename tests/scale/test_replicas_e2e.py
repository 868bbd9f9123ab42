"""Three replicas as processes over real sockets: one emulator, one redis-server, shared state."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from service.emulator import ManualClock, Scenario, create_emulator_app
from tests.e2e.servers import running
from tests.scale.cluster import Watcher, advance, cluster, emulator_calls, trigger

pytestmark = pytest.mark.looptime(False)
HOUR_MS = 3_600_000


def emulator() -> object:
    return create_emulator_app(Scenario.demo(), clock=ManualClock())


async def open_watchers(urls: list[str], run_id: int) -> tuple[list[Watcher], list[asyncio.Task]]:
    watchers = [Watcher(url, run_id) for url in urls]
    tasks = [asyncio.create_task(w.run()) for w in watchers]
    await asyncio.wait_for(asyncio.gather(*(w.opened.wait() for w in watchers)), 10)
    return watchers, tasks


async def test_watchers_on_three_replicas_cause_the_polls_of_one(tmp_path, redis_server):
    async with (
        running(emulator()) as emulator_url,
        cluster(tmp_path, emulator_url, redis_server.url) as replicas,
    ):
        run_id = await trigger(replicas[0].url)
        watchers, tasks = await open_watchers([r.url for r in replicas for _ in range(3)], run_id)
        await asyncio.sleep(1.5)  # every replica's loop is running
        before = await emulator_calls(emulator_url, "runs/get")
        await asyncio.sleep(4)
        polls = await emulator_calls(emulator_url, "runs/get") - before
        await advance(emulator_url, HOUR_MS)
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
    # One poll a second across all three (not three a second), 4 s: 4, give or take one.
    assert 3 <= polls <= 5
    assert all(w.statuses[-1] == "TERMINATED" for w in watchers)
    assert all(w.ids == watchers[0].ids for w in watchers)  # the same ids on every replica


async def test_killing_the_polling_replica_moves_the_polling_and_no_watcher_misses_the_end(
    tmp_path, redis_server
):
    async with (
        running(emulator()) as emulator_url,
        cluster(tmp_path, emulator_url, redis_server.url) as replicas,
    ):
        run_id = await trigger(replicas[0].url)
        watchers, tasks = await open_watchers([r.url for r in replicas], run_id)
        await asyncio.sleep(2.5)
        counts = [await r.polls() for r in replicas]
        holder = replicas[counts.index(max(counts))]
        assert sorted(counts)[1] == 0  # one replica polls, the others do not
        holder.kill()
        killed_at = asyncio.get_running_loop().time()
        before = await emulator_calls(emulator_url, "runs/get")
        while await emulator_calls(emulator_url, "runs/get") == before:
            await asyncio.sleep(0.05)
        moved_after = asyncio.get_running_loop().time() - killed_at
        await advance(emulator_url, HOUR_MS)
        survivors = [t for w, t in zip(watchers, tasks, strict=True) if w.url != holder.url]
        await asyncio.wait_for(asyncio.gather(*survivors), 10)
        await asyncio.gather(*tasks, return_exceptions=True)  # the killed replica's stream broke
    assert moved_after <= 2 * 1.0 + 0.2  # two poll intervals (and the test's 50 ms steps)
    for watcher in watchers:
        if watcher.url != holder.url:
            assert watcher.statuses[-1] == "TERMINATED"


async def test_a_stream_resumed_on_another_replica_has_no_gap_and_no_duplicate(
    tmp_path, redis_server
):
    async with (
        running(emulator()) as emulator_url,
        cluster(tmp_path, emulator_url, redis_server.url, count=2) as (a, b),
    ):
        run_id = await trigger(a.url)
        first = Watcher(a.url, run_id)
        await asyncio.wait_for(first.run(stop_after=1), 10)  # then the client goes away
        await advance(emulator_url, 3_500)  # the run moves on while the client is away:
        await asyncio.sleep(2.5)  # A's loop (idle, not yet stopped) publishes the change
        resumed = Watcher(b.url, run_id, last_event_id=first.ids[-1])
        resuming = asyncio.create_task(resumed.run())
        await resumed.opened.wait()
        await advance(emulator_url, HOUR_MS)
        await asyncio.wait_for(resuming, 10)
    numbers = [int(i.rsplit("-", 1)[1]) for i in first.ids + resumed.ids]
    assert numbers == list(range(1, len(numbers) + 1))  # no gap, no duplicate
    assert {i.rsplit("-", 1)[0] for i in first.ids + resumed.ids} == {first.ids[0].split("-")[0]}
    assert resumed.statuses[-1] == "TERMINATED"
    assert len(numbers) >= 3


async def test_a_trigger_on_one_replica_makes_the_others_status_fresh(tmp_path, redis_server):
    async with (
        running(emulator()) as emulator_url,
        cluster(tmp_path, emulator_url, redis_server.url, count=2) as (a, b),
        httpx.AsyncClient(timeout=10) as client,
    ):
        first = await trigger(a.url)
        before = (await client.get(f"{b.url}/api/jobs/etl/status")).json()
        second = await trigger(a.url)
        after = (await client.get(f"{b.url}/api/jobs/etl/status")).json()
    assert before["run"]["run_id"] == first
    assert after["run"]["run_id"] == second


async def test_the_same_idempotency_key_on_two_replicas_gives_one_run(tmp_path, redis_server):
    async with (
        running(emulator()) as emulator_url,
        cluster(tmp_path, emulator_url, redis_server.url, count=2) as (a, b),
    ):
        on_a = await trigger(a.url, key="order-42")
        on_b = await trigger(b.url, key="order-42")
        run_nows = await emulator_calls(emulator_url, "run-now")
    assert on_a == on_b
    assert run_nows == 1  # B answered from the shared memory, nothing sent


async def test_redis_stopped_mid_test_the_service_goes_on_and_rejoins(tmp_path, redis_server):
    async with (
        running(emulator()) as emulator_url,
        cluster(tmp_path, emulator_url, redis_server.url, count=2) as (a, b),
        httpx.AsyncClient(timeout=10) as client,
    ):
        redis_server.stop()
        started = asyncio.get_running_loop().time()
        run_id = await trigger(a.url)
        took = asyncio.get_running_loop().time() - started
        watcher = Watcher(b.url, run_id)
        watching = asyncio.create_task(watcher.run())
        await watcher.opened.wait()
        down = (await client.get(f"{b.url}/readyz")).json()
        status = (await client.get(f"{b.url}/api/jobs/etl/status")).json()
        redis_server.start()
        for _ in range(100):
            up = (await client.get(f"{b.url}/readyz")).json()
            if up.get("redis") == "up":
                break
            await asyncio.sleep(0.1)
        await advance(emulator_url, HOUR_MS)
        await asyncio.wait_for(watching, 10)
        again = await trigger(a.url, key="after-rejoin")
        same = await trigger(b.url, key="after-rejoin")
    assert took < 3  # a dead Redis costs at most its short timeout, not a hang
    assert down == {"status": "ready", "redis": "down"}
    assert status["run"]["run_id"] == run_id
    assert up == {"status": "ready", "redis": "up"}
    assert watcher.statuses[-1] == "TERMINATED"  # the local poll loop took the run to its end
    assert again == same  # shared memory again after the rejoin
    warnings = [x for x in a.lines + b.lines if x.get("event") == "redis.unreachable"]
    assert len(warnings) == 2  # once per replica, not once per request


async def set_outcome(emulator_url: str, run_id: int, outcome: str) -> None:
    async with httpx.AsyncClient(base_url=emulator_url, timeout=5) as client:
        response = await client.post(f"/emulator/runs/{run_id}/outcome", json={"outcome": outcome})
    response.raise_for_status()


async def test_two_replicas_watching_a_run_that_is_repaired_follow_it_with_the_same_ids(
    tmp_path, redis_server
):
    async with (
        running(emulator()) as emulator_url,
        cluster(tmp_path, emulator_url, redis_server.url, count=2) as (a, b),
        httpx.AsyncClient(timeout=10) as client,
    ):
        run_id = await trigger(a.url)
        await set_outcome(emulator_url, run_id, "FAILED")
        watchers, tasks = await open_watchers([a.url, b.url], run_id)
        await advance(emulator_url, HOUR_MS)
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
        final = watchers[0].ids[-1]
        key = {"Idempotency-Key": "repair-42"}
        repair = f"/api/jobs/etl/runs/{run_id}/repair"
        on_a = await client.post(a.url + repair, json={}, headers=key)
        on_b = await client.post(b.url + repair, json={}, headers=key)  # the same repair
        resumed, tasks = [Watcher(b.url, run_id, final), Watcher(a.url, run_id, final)], []
        for watcher in resumed:  # one after the other: each replica reopens its own watch
            tasks.append(asyncio.create_task(watcher.run()))
            await asyncio.wait_for(watcher.opened.wait(), 10)
        await set_outcome(emulator_url, run_id, "SUCCESS")  # the repair goes well ...
        await advance(emulator_url, HOUR_MS)
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
        repairs = await emulator_calls(emulator_url, "runs/repair")
    assert watchers[0].ids == watchers[1].ids
    assert watchers[0].statuses[-1] == "INTERNAL_ERROR"  # the run failed, as Databricks says
    assert on_a.status_code == on_b.status_code == 200
    assert on_a.json() == on_b.json()
    assert repairs == 1
    assert resumed[0].ids == resumed[1].ids  # the same events, the same ids, on both replicas
    epoch, last = final.rsplit("-", 1)
    numbers = [int(i.rsplit("-", 1)[1]) for i in resumed[0].ids]
    assert {i.rsplit("-", 1)[0] for i in resumed[0].ids} == {epoch}
    assert numbers == list(range(int(last) + 1, int(last) + 1 + len(numbers)))
    assert len(numbers) >= 2
    assert resumed[0].statuses[-1] == "TERMINATED"
    assert json.loads(resumed[0].messages[-1]["data"])["result"] == "SUCCESS"
