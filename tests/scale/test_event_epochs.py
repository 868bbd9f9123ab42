"""Event ids across Redis losing a run and replicas going local: an id names one event forever,
and where numbering cannot go on (Redis lost the stream, a replica goes on alone) a new epoch
starts (against a real redis-server)."""

from __future__ import annotations

import asyncio

import pytest

from service.runs.subscription import End
from tests.factories import upstream_router
from tests.scale.replicas import Upstream, collect, replicas, until, watch

pytestmark = pytest.mark.looptime(False)


def ids(items):
    return [i.id for i in items if not isinstance(i, End)]


def epoch_of(event_id: str) -> str:
    return event_id.rsplit("-", 1)[0]


async def test_after_redis_lost_the_run_its_next_events_have_a_new_epoch(redis_server):
    router = upstream_router()
    upstream = Upstream(router, "RUNNING")
    async with replicas(2, redis_server.url, router) as (a, b):
        followers = [await watch(a), await watch(b)]
        firsts = [await asyncio.wait_for(f.next(), 5) for f in followers]
        with redis_server.client() as raw:
            raw.flushall()  # a restart that lost the data, the links never down
        upstream.state = "TERMINATING"
        seconds = [await asyncio.wait_for(f.next(), 10) for f in followers]
        upstream.state = "TERMINATED"
        rests = await asyncio.gather(*(collect(f) for f in followers))
    old = epoch_of(firsts[0].id)
    assert firsts[0].id == firsts[1].id == f"{old}-1"
    after = [[seconds[n], *rests[n]] for n in range(2)]
    assert ids(after[0]) == ids(after[1])  # one numbering still, shared again ...
    new = epoch_of(ids(after[0])[0])
    assert new != old  # ... under an epoch of its own: `<old>-2` was never sent, nor will be
    # The new epoch starts from the state as its holder first reads it (RUNNING when it polls
    # before the change, else TERMINATING), numbered from 1, and goes on to the end.
    assert ids(after[0]) == [f"{new}-{n}" for n in range(1, len(ids(after[0])) + 1)]
    statuses = [i.status for i in after[0] if not isinstance(i, End)]
    assert statuses[-1] == "TERMINATED"
    assert statuses[:-1] in (["RUNNING"], ["TERMINATING"], ["RUNNING", "TERMINATING"])


async def test_replicas_that_go_local_number_under_epochs_of_their_own(redis_server):
    router = upstream_router()
    upstream = Upstream(router, "PENDING")
    async with replicas(2, redis_server.url, router) as (a, b):
        followers = [await watch(a), await watch(b)]
        firsts = [await asyncio.wait_for(f.next(), 5) for f in followers]
        redis_server.stop()  # each replica goes on alone: each numbers on by itself
        upstream.state = "RUNNING"
        seconds = [await asyncio.wait_for(f.next(), 10) for f in followers]
        upstream.state = "TERMINATED"
        await asyncio.gather(*(collect(f) for f in followers))
    shared = epoch_of(firsts[0].id)
    assert firsts[0].id == firsts[1].id == f"{shared}-1"
    local = [epoch_of(s.id) for s in seconds]
    assert shared not in local
    assert local[0] != local[1]
    assert [s.id for s in seconds] == [f"{local[0]}-1", f"{local[1]}-1"]


async def test_a_resume_across_going_local_on_the_same_replica_has_no_gap_nor_repeat(
    redis_server,
):
    router = upstream_router()
    upstream = Upstream(router, "PENDING")
    async with replicas(1, redis_server.url, router) as (a,):
        first = await watch(a)
        had = await asyncio.wait_for(first.next(), 5)
        first.close()
        redis_server.stop()
        upstream.state = "RUNNING"
        await until(lambda: a.hub.find(555, a.service_principal).latest.status == "RUNNING")
        resumed = await watch(a, last_event_id=had.id)
        upstream.state = "TERMINATED"
        rest = await collect(resumed)
    assert [i.status for i in rest if not isinstance(i, End)] == ["RUNNING", "TERMINATED"]
    local = epoch_of(rest[0].id)
    assert local != epoch_of(had.id)
    assert ids(rest) == [f"{local}-1", f"{local}-2"]
    assert rest[-1].reason == "done"
