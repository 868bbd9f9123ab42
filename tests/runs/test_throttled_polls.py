"""A poll told to wait an hour: the wait is capped, heartbeats go on, and joiners see the run."""

from __future__ import annotations

import asyncio
import json

import httpx

from service.clock import LoopClock
from service.runs.subscription import End
from service.runtime import open_services
from tests.factories import (
    advance,
    make_client,
    make_run,
    make_settings,
    sse_events,
    transport,
    upstream_router,
)

HOUR = httpx.Response(429, headers={"Retry-After": "3600"}, json={})
RUNNING = httpx.Response(200, json=make_run(555, state="RUNNING"))
DONE = httpx.Response(200, json=make_run(555, state="TERMINATED", result="SUCCESS"))


class LoopWallClock(LoopClock):
    """Event timestamps in loop time, so a test can tell when each event was made."""

    def wall_ms(self) -> int:
        return round(asyncio.get_running_loop().time() * 1000)


def settings(**overrides):
    return make_settings(**{"poll_interval_ms": 5000, "heartbeat_ms": 15_000, **overrides})


async def test_a_poll_told_to_wait_an_hour_polls_again_within_a_minute():
    router = upstream_router()
    router.get("/runs/get").mock(side_effect=[HOUR, RUNNING, DONE])
    loop = asyncio.get_running_loop()
    async with open_services(settings(), transport=transport(router)) as svc:
        started = loop.time()
        sub = svc.hub.watch(svc.settings.jobs["etl"], svc.service_principal, 555).subscribe()
        first = await sub.next()
        waited = loop.time() - started
        while not isinstance(await sub.next(), End):
            pass
    assert first.status == "RUNNING"
    assert waited <= 1 + 60 + 1  # the first poll, then at most a minute, not an hour


async def test_ten_intervals_are_obeyed_when_longer_than_the_cap():
    router = upstream_router()
    router.get("/runs/get").mock(side_effect=[HOUR, RUNNING, DONE])
    loop = asyncio.get_running_loop()
    slow = settings(poll_interval_ms=20_000, poll_retry_after_max_ms=60_000)
    async with open_services(slow, transport=transport(router)) as svc:
        started = loop.time()
        sub = svc.hub.watch(svc.settings.jobs["etl"], svc.service_principal, 555).subscribe()
        await sub.next()
        waited = loop.time() - started
        svc.hub.close_all()
    assert 1 + 200 <= waited <= 1 + 200 + 1


async def test_heartbeats_go_on_while_a_poll_waits_out_retry_after():
    router = upstream_router()
    # The watch route's own read, then a poll throttled for an hour, then the run's end.
    router.get("/runs/get").mock(side_effect=[RUNNING, HOUR, DONE])
    loop = asyncio.get_running_loop()
    async with make_client(settings(), router) as client:
        started = loop.time()
        response = await client.get("/api/jobs/etl/runs/555/events")
        elapsed = loop.time() - started
    between = response.text.split('"status":"RUNNING"')[1].split('"status":"TERMINATED"')[0]
    assert between.count(": heartbeat") >= 3  # a minute's wait at one per 15 s
    assert [json.loads(e["data"])["status"] for e in sse_events(response.text)] == [
        "RUNNING",
        "TERMINATED",
    ]
    assert elapsed <= 70


async def test_a_watcher_joining_a_throttled_watch_gets_the_run_at_once():
    router = upstream_router()
    router.post("/run-now").respond(json={"run_id": 555})
    # The trigger's first poll is throttled for an hour; the joiner's read answers.
    router.get("/runs/get").mock(side_effect=[HOUR, RUNNING, DONE, DONE])
    loop = asyncio.get_running_loop()
    async with make_client(settings(), router, clock=LoopWallClock()) as client:
        t0 = loop.time()
        trigger = asyncio.create_task(client.post("/api/jobs/etl/run?stream=true", json={}))
        await advance(5)  # the first poll (at 1 s) has been throttled
        joined_at = (loop.time() - t0) * 1000
        joiner = await client.get("/api/jobs/etl/runs/555/events")
        triggered = await trigger
    joined = [json.loads(e["data"]) for e in sse_events(joiner.text)]
    assert joined[0]["status"] == "RUNNING"
    assert joined[0]["timestamp"] - t0 * 1000 <= joined_at + 1  # at once, not after the hour
    assert joined[-1]["status"] == "TERMINATED"
    # The one who triggered it is told too.
    statuses = [json.loads(e["data"]).get("status") for e in sse_events(triggered.text)[1:]]
    assert statuses == ["RUNNING", "TERMINATED"]


async def test_a_joining_watcher_gets_the_latest_event_of_a_running_watch():
    router = upstream_router()
    route = router.get("/runs/get").mock(side_effect=[RUNNING, RUNNING, RUNNING, DONE])
    async with open_services(settings(), transport=transport(router)) as svc:
        watch = svc.hub.watch(svc.settings.jobs["etl"], svc.service_principal, 555)
        keeper = watch.subscribe()
        await keeper.next()
        calls = route.call_count
        joined_at = asyncio.get_running_loop().time()
        joiner = svc.hub.watch(svc.settings.jobs["etl"], svc.service_principal, 555).subscribe()
        first = await joiner.next()
        assert asyncio.get_running_loop().time() == joined_at  # at once
        assert route.call_count == calls  # and with no upstream call: the buffer has it
        svc.hub.close_all()
    assert first.status == "RUNNING"
