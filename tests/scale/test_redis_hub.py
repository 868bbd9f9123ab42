"""The Redis hub against a real redis-server: one poll loop per run across replicas."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from service.basics.callers import PROGRAM
from service.runs.subscription import End
from service.scale_out.redis_link import RedisLink
from service.scale_out.shared_run import SharedRun
from service.upstream.wire import run_from_raw
from tests.factories import make_run, upstream_router
from tests.scale.replicas import Upstream, collect, replicas, run_key, until, watch

pytestmark = pytest.mark.looptime(False)


def ids(items):
    return [i.id for i in items if not isinstance(i, End)]


async def test_watchers_on_two_replicas_cause_the_polls_of_one(redis_server):
    router = upstream_router()
    upstream = Upstream(router, "RUNNING")
    async with replicas(2, redis_server.url, router) as (a, b):
        followers = [await watch(a), await watch(b), await watch(b)]
        # Real time: leases and heartbeats expire on Redis's clock, which no test can drive;
        # so wait for three polls (about three 1 s intervals) rather than a fixed time.
        await until(lambda: a.hub.polls + b.hub.polls >= 3)
        polls = upstream.polls
        pollers = sorted([a.hub.polls, b.hub.polls])
        upstream.state = "TERMINATED"
        endings = await asyncio.gather(*(collect(f) for f in followers))
    # About one poll a second in all (the first reads are cached reads, not polls), not two.
    assert polls <= 5
    assert pollers[0] == 0  # one replica polled, the other only relayed
    assert a.hub.polls + b.hub.polls <= 6
    assert all(isinstance(items[-1], End) and items[-1].reason == "done" for items in endings)
    # Every replica numbers the events alike.
    assert ids(endings[0]) == ids(endings[1]) == ids(endings[2])
    assert [i.status for i in endings[0] if not isinstance(i, End)] == ["RUNNING", "TERMINATED"]


async def test_a_stream_resumed_on_another_replica_has_no_gap_and_no_duplicate(redis_server):
    router = upstream_router()
    upstream = Upstream(router, "PENDING")
    async with replicas(2, redis_server.url, router) as (a, b):
        first = await watch(a)
        seen = [await first.next()]
        upstream.state = "RUNNING"
        seen.append(await first.next())
        first.close()  # the client goes away after the second event ...
        upstream.state = "QUEUED"  # ... and misses this one
        await until(lambda: a.hub.find(555, a.service_principal).seq >= 3)
        resumed = await watch(b, last_event_id=seen[-1].id)  # ... and comes back on B
        upstream.state = "TERMINATED"
        rest = await collect(resumed)
    assert [e.status for e in seen] == ["PENDING", "RUNNING"]
    assert [i.status for i in rest if not isinstance(i, End)] == ["QUEUED", "TERMINATED"]
    numbers = [int(i.split("-")[-1]) for i in ids(seen) + ids(rest)]
    assert numbers == [1, 2, 3, 4]


async def test_the_polling_moves_within_two_intervals_when_its_replica_dies(redis_server):
    router = upstream_router()
    upstream = Upstream(router, "RUNNING")
    async with replicas(1, redis_server.url, router) as (b,):
        follower_b = await watch(b)
        async with replicas(1, redis_server.url, router) as (a,):
            follower_a = await watch(a)
            await asyncio.sleep(2.5)  # real time (Redis's clock): a few polls by the holder
            holder = a if a.hub.polls else b
        # A's services are gone; if A held the lease, B takes it over.
        died = asyncio.get_running_loop().time()
        before = upstream.polls
        await until(lambda: upstream.polls > before, within_s=5)
        moved_after = asyncio.get_running_loop().time() - died
        upstream.state = "TERMINATED"
        items = await collect(follower_b)
    assert holder is a or b.hub.polls
    assert moved_after <= 2.0 + 0.3  # two intervals (1 s), and a little for the test's own steps
    assert items[-1].reason == "done"
    follower_a.close()


async def test_a_shared_watch_goes_on_locally_when_redis_dies_under_it(redis_server):
    router = upstream_router()
    upstream = Upstream(router, "PENDING")
    async with replicas(1, redis_server.url, router) as (a,):
        follower = await watch(a)
        first = await follower.next()
        redis_server.stop()
        upstream.state = "RUNNING"
        second = await asyncio.wait_for(follower.next(), 5)
        upstream.state = "TERMINATED"
        rest = await collect(follower)
    assert (first.status, second.status) == ("PENDING", "RUNNING")
    # Under an epoch of its own from there (another replica may go on alone as well).
    local = second.id.rsplit("-", 1)[0]
    assert local != first.id.rsplit("-", 1)[0]
    assert [second.id, *ids(rest)] == [f"{local}-1", f"{local}-2"]
    assert rest[-1].reason == "done"


async def test_a_holder_that_lost_its_lease_publishes_nothing(redis_server):
    links = [RedisLink(redis_server.url, timeout_s=0.5, prefix="t") for _ in range(2)]
    for link in links:
        await link.probe()
    runs = [SharedRun(link, 555, "sp", lease_ms=200, retain_ms=10_000, maxlen=8) for link in links]
    snapshot = run_from_raw(msgspec.Raw(msgspec.json.encode(make_run(555))))
    try:
        assert await runs[0].epoch("0000beef") == "0000beef"
        assert await runs[0].acquire()
        assert not await runs[1].acquire()
        assert await runs[0].publish("0000beef", 1, 0, snapshot)
        await asyncio.sleep(0.3)  # runs[0] paused past its lease
        assert await runs[1].acquire()
        published_late = await runs[0].publish("0000beef", 2, 0, snapshot)
        renewed_late = await runs[0].renew()
        tail = await runs[1].tail()
    finally:
        for link in links:
            await link.close()
    assert not published_late
    assert not renewed_late
    assert tail is not None
    assert tail.id == "0000beef-1"


async def test_a_crash_in_the_lease_keeper_sends_the_run_local_not_its_watchers_away(
    redis_server,
):
    router = upstream_router()
    upstream = Upstream(router, "PENDING")
    answer = upstream.respond
    calls = []

    def respond(request):
        calls.append(request)
        if len(calls) == 2:  # the holder's first poll: an error nothing foresaw
            raise RuntimeError("a bug")
        return answer(request)

    upstream.route.side_effect = respond
    async with replicas(1, redis_server.url, router) as (a,):
        follower = await watch(a)
        first = await asyncio.wait_for(follower.next(), 5)
        upstream.state = "TERMINATED"
        rest = await collect(follower)
        ready = a.link.state if a.link else None
    assert first.status == "PENDING"
    assert [i.status for i in rest if not isinstance(i, End)] == ["TERMINATED"]
    assert rest[-1].reason == "done"
    assert a.link is not None
    assert a.link.health.restarts["lease"] == 1
    assert ready == "degraded"


async def test_a_watcher_that_would_never_expire_is_not_counted(redis_server):
    link = RedisLink(redis_server.url, timeout_s=0.5, prefix="jobs-sidecar")
    await link.probe()
    run = SharedRun(link, 555, "sp", lease_ms=1500, retain_ms=10_000, maxlen=8)
    with redis_server.client() as raw:
        raw.zadd(run_key(555, "watchers"), {b"ghost": float("inf"), b"gone-soon": 1e15})
    try:
        watching_with_us = await run.heartbeat(watching=True)
        watching_without_us = await run.heartbeat(watching=False)
    finally:
        await link.close()
    assert watching_with_us == 1  # ours alone: no heartbeat lives past four leases
    assert watching_without_us == 0  # so a holder nobody watches stops polling


async def test_two_replicas_follow_a_repaired_run_on_from_its_end_with_the_same_ids(redis_server):
    router = upstream_router()
    upstream = Upstream(router, "RUNNING")
    router.post("/runs/repair").respond(json={"repair_id": 7})
    async with replicas(2, redis_server.url, router) as (a, b):
        firsts = [await watch(a), await watch(b)]
        upstream.state = "INTERNAL_ERROR"  # the run fails ...
        ended = await asyncio.gather(*(collect(f) for f in firsts))
        job = a.settings.jobs["etl"]
        await a.repairs.repair(
            job, a.service_principal, 555, {"rerun_all_failed_tasks": True}, None, caller=PROGRAM
        )
        upstream.state = "RUNNING"  # ... and a repair runs it again
        final = ids(ended[0])[-1]
        resumed = [await watch(b, last_event_id=final), await watch(a, last_event_id=final)]
        first_on_each = [await asyncio.wait_for(f.next(), 10) for f in resumed]
        upstream.state = "TERMINATED"
        rest = await asyncio.gather(*(collect(f) for f in resumed))
    assert ids(ended[0]) == ids(ended[1])
    assert [i.status for i in ended[0] if not isinstance(i, End)] == ["RUNNING", "INTERNAL_ERROR"]
    after = [[first_on_each[n], *rest[n]] for n in range(2)]
    assert ids(after[0]) == ids(after[1])
    assert [i.status for i in after[0] if not isinstance(i, End)] == ["RUNNING", "TERMINATED"]
    epoch, _ = final.rsplit("-", 1)
    assert ids(after[0]) == [f"{epoch}-3", f"{epoch}-4"]
