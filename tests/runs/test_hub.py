"""The hub's poll loops: one per run whatever the number of watchers, paced (a Retry-After
wait capped, heartbeats going on), resumable; joiners see the run at once."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from service.basics.clock import LoopClock
from service.runs.hub import next_delay
from service.runs.streams import end_frame
from service.runs.subscription import End
from service.runtime import open_services
from tests.factories import (
    advance,
    make_client,
    make_run,
    make_settings,
    sse_events,
    timeline,
    transport,
    upstream_router,
)


async def drain(sub, limit=100):
    """Every item until the subscription ends."""
    items = []
    while len(items) < limit:
        item = await sub.next()
        items.append(item)
        if isinstance(item, End):
            return items
    return items


def states(items):
    return [i.status for i in items if not isinstance(i, End)]


async def open_hub(router, **overrides):
    settings = make_settings(poll_interval_ms=5000, **overrides)
    return settings, open_services(settings, transport=transport(router))


async def test_many_watchers_share_one_poll_per_interval():
    router = upstream_router()
    polls = router.get("/runs/get").mock(side_effect=timeline([(0, "RUNNING"), (60, "TERMINATED")]))
    _settings, services_cm = await open_hub(router, poll_max_ms=5000)
    async with services_cm as svc:
        job = svc.settings.jobs["etl"]
        watch = svc.hub.watch(job, svc.service_principal, 555)
        subs = [watch.subscribe() for _ in range(1000)]
        results = await asyncio.gather(*(drain(s) for s in subs))
    assert all(states(r) == ["RUNNING", "TERMINATED"] for r in results)
    # First poll after 1 s, then every 5 s until t=60: 13 polls, not 13,000.
    assert polls.call_count <= 14


async def test_events_are_sent_on_change_not_per_poll():
    router = upstream_router()
    router.get("/runs/get").mock(
        side_effect=timeline([(0, "PENDING"), (12, "RUNNING"), (30, "TERMINATED")])
    )
    _, services_cm = await open_hub(router)
    async with services_cm as svc:
        watch = svc.hub.watch(svc.settings.jobs["etl"], svc.service_principal, 555)
        items = await drain(watch.subscribe())
    assert states(items) == ["PENDING", "RUNNING", "TERMINATED"]
    assert items[-1].reason == "done"
    assert [i.seq for i in items[:-1]] == [1, 2, 3]


async def test_poll_loop_stops_shortly_after_the_last_watcher_leaves():
    router = upstream_router()
    polls = router.get("/runs/get").respond(json=make_run(555, state="RUNNING"))
    _, services_cm = await open_hub(router)
    async with services_cm as svc:
        watch = svc.hub.watch(svc.settings.jobs["etl"], svc.service_principal, 555)
        sub = watch.subscribe()
        await advance(12)
        watch.unsubscribe(sub)
        await advance(120)
        count = polls.call_count
        await advance(600)
        assert polls.call_count == count
        assert len(svc.hub) == 0


async def test_resume_gets_only_missed_events_and_no_duplicate_terminal():
    router = upstream_router()
    router.get("/runs/get").mock(
        side_effect=timeline([(0, "PENDING"), (6, "RUNNING"), (20, "TERMINATED")])
    )
    _, services_cm = await open_hub(router)
    async with services_cm as svc:
        watch = svc.hub.watch(svc.settings.jobs["etl"], svc.service_principal, 555)
        first = watch.subscribe()
        seen = [await first.next()]
        watch.unsubscribe(first)  # the client is cut after its first event
        keeper = watch.subscribe()  # someone else keeps the run watched
        await advance(30)
        resumed = await drain(watch.subscribe(seen[0].id))
        assert states(resumed) == ["RUNNING", "TERMINATED"]
        assert watch.saw_everything(resumed[-2].id)
        await drain(keeper)


async def test_unknown_last_event_id_gets_the_current_snapshot():
    router = upstream_router()
    router.get("/runs/get").respond(json=make_run(555, state="RUNNING"))
    _, services_cm = await open_hub(router)
    async with services_cm as svc:
        watch = svc.hub.watch(svc.settings.jobs["etl"], svc.service_principal, 555)
        await advance(2)
        sub = watch.subscribe("deadbeef-7")
        assert (await sub.next()).status == "RUNNING"
        watch.unsubscribe(sub)


async def test_terminal_run_gets_one_final_event_and_no_polls():
    router = upstream_router()
    polls = router.get("/runs/get").respond(
        json=make_run(555, state="TERMINATED", result="SUCCESS")
    )
    _, services_cm = await open_hub(router)
    async with services_cm as svc:
        from service.upstream.wire import decode_run  # noqa: PLC0415

        initial = decode_run(httpx.Response(200, json=make_run(555, state="TERMINATED")).content)
        watch = svc.hub.watch(svc.settings.jobs["etl"], svc.service_principal, 555, initial)
        items = await drain(watch.subscribe())
    assert states(items) == ["TERMINATED"]
    assert polls.call_count == 0


async def test_a_slow_watcher_is_dropped_without_delaying_others():
    router = upstream_router()
    steps = [(0, "QUEUED"), (2, "PENDING"), (8, "RUNNING"), (14, "TERMINATING"), (20, "TERMINATED")]
    router.get("/runs/get").mock(side_effect=timeline(steps))
    _, services_cm = await open_hub(router, stream_queue=2, poll_max_ms=5000)
    async with services_cm as svc:
        watch = svc.hub.watch(svc.settings.jobs["etl"], svc.service_principal, 555)
        slow = watch.subscribe()  # never read until the end
        fast = await drain(watch.subscribe())
        slow_items = await drain(slow)
    assert states(fast) == ["QUEUED", "PENDING", "RUNNING", "TERMINATING", "TERMINATED"]
    assert slow_items[-1].reason == "dropped"


async def test_three_failed_polls_are_tolerated_the_fourth_ends_with_error():
    router = upstream_router()
    ok = httpx.Response(200, json=make_run(555, state="RUNNING"))
    down = httpx.Response(503, json={"error_code": "TEMPORARILY_UNAVAILABLE", "message": "x"})
    router.get("/runs/get").mock(side_effect=[ok, down, down, down, ok, down, down, down, down])
    _, services_cm = await open_hub(router)
    async with services_cm as svc:
        watch = svc.hub.watch(svc.settings.jobs["etl"], svc.service_principal, 555)
        items = await drain(watch.subscribe())
    assert states(items) == ["RUNNING"]
    assert items[-1].reason == "error"
    assert items[-1].error is not None
    assert items[-1].error.code == "UPSTREAM_UNAVAILABLE"
    assert b"event: error" in end_frame(items[-1])


async def test_retry_after_of_a_throttled_poll_is_obeyed():
    router = upstream_router()
    times = []

    def respond(request):
        times.append(asyncio.get_running_loop().time())
        if len(times) == 2:
            return httpx.Response(429, headers={"Retry-After": "30"}, json={})
        state = "TERMINATED" if len(times) > 2 else "RUNNING"
        return httpx.Response(200, json=make_run(555, state=state, result="SUCCESS"))

    router.get("/runs/get").mock(side_effect=respond)
    _, services_cm = await open_hub(router)
    async with services_cm as svc:
        watch = svc.hub.watch(svc.settings.jobs["etl"], svc.service_principal, 555)
        await drain(watch.subscribe())
    assert times[2] - times[1] >= 30


@pytest.mark.parametrize("retry_after", ["3000", "9" * 400], ids=["long", "overflowing"])
async def test_an_unwatched_loop_stops_within_the_grace_even_during_a_long_retry_after(
    retry_after,
):
    router = upstream_router()
    calls = []

    def respond(request):
        calls.append(1)
        if len(calls) == 2:
            return httpx.Response(429, headers={"Retry-After": retry_after}, json={})
        return httpx.Response(200, json=make_run(555, state="RUNNING"))

    router.get("/runs/get").mock(side_effect=respond)
    _, services_cm = await open_hub(router)
    async with services_cm as svc:
        watch = svc.hub.watch(svc.settings.jobs["etl"], svc.service_principal, 555)
        sub = watch.subscribe()
        await advance(40)  # polled once, then throttled: waiting out the Retry-After
        watch.unsubscribe(sub)
        await advance(11)  # the 5 s grace, checked at least every 5 s
        assert len(svc.hub) == 0
    assert len(calls) == 2


async def test_first_poll_is_fast_then_the_interval_applies():
    router = upstream_router()
    times = []

    def respond(request):
        times.append(asyncio.get_running_loop().time())
        return httpx.Response(
            200, json=make_run(555, state="PENDING" if len(times) < 3 else "TERMINATED")
        )

    router.get("/runs/get").mock(side_effect=respond)
    _, services_cm = await open_hub(router)
    async with services_cm as svc:
        watch = svc.hub.watch(svc.settings.jobs["etl"], svc.service_principal, 555)
        await drain(watch.subscribe())
    assert times[0] == pytest.approx(1.0, abs=0.01)
    assert times[1] - times[0] == pytest.approx(5.0, abs=0.01)
    assert 6.7 <= times[2] - times[1] <= 8.3  # unchanged: x1.5 with jitter


@pytest.mark.parametrize("unchanged", range(12))
def test_delay_backs_off_within_floor_and_cap(unchanged):
    delay = next_delay(5.0, unchanged, floor=1.0, cap=30.0)
    assert 1.0 <= delay <= 30.0
    if unchanged == 0:
        assert delay == 5.0


def test_delay_never_below_the_floor():
    assert next_delay(0.1, 0, floor=1.0, cap=30.0) == 1.0


async def test_shutdown_ends_every_watcher_with_a_shutdown_event():
    router = upstream_router()
    router.get("/runs/get").respond(json=make_run(555, state="RUNNING"))
    _, services_cm = await open_hub(router)
    async with services_cm as svc:
        watch = svc.hub.watch(svc.settings.jobs["etl"], svc.service_principal, 555)
        subs = [watch.subscribe() for _ in range(10)]
        await advance(3)
        svc.draining.set()
        results = await asyncio.gather(*(drain(s) for s in subs))
    assert all(r[-1].reason == "shutdown" for r in results)
    assert all(b"event: shutdown" in end_frame(r[-1]) for r in results)


async def test_one_bad_poll_reply_ends_its_watchers_only():
    router = upstream_router()
    router.get("/runs/get", params={"run_id": "1"}).respond(200, text="<html>")
    router.get("/runs/get", params={"run_id": "2"}).mock(
        side_effect=timeline([(0, "RUNNING"), (30, "TERMINATED")], run_id=2)
    )
    async with open_services(make_settings(), transport=transport(router)) as svc:
        job = svc.settings.jobs["etl"]
        bad = svc.hub.watch(job, svc.service_principal, 1).subscribe()
        good = svc.hub.watch(job, svc.service_principal, 2).subscribe()
        bad_items = [await bad.next() for _ in range(1)]
        while not isinstance(item := await good.next(), End):
            pass
    assert bad_items[-1].reason == "error"
    assert item.reason == "done"


async def test_after_a_poll_outage_a_watcher_is_not_told_the_run_ended():
    router = upstream_router()
    down = httpx.Response(503, json={})
    ok = httpx.Response(200, json=make_run(555, state="RUNNING"))
    done = httpx.Response(200, json=make_run(555, state="TERMINATED", result="SUCCESS"))
    router.get("/runs/get").mock(side_effect=[ok, down, down, down, down, ok, ok, done, done])
    async with make_client(make_settings(), router) as client:
        cut = sse_events((await client.get("/api/jobs/etl/runs/555/events")).text)
        again = await client.get(
            "/api/jobs/etl/runs/555/events", headers={"Last-Event-ID": cut[-2]["id"]}
        )
    assert cut[-1]["event"] == "error"
    assert again.status_code == 200  # not 204: the run has not ended
    assert json.loads(sse_events(again.text)[0]["data"])["status"] == "RUNNING"


HOUR = httpx.Response(429, headers={"Retry-After": "3600"}, json={})


RUNNING = httpx.Response(200, json=make_run(555, state="RUNNING"))


DONE = httpx.Response(200, json=make_run(555, state="TERMINATED", result="SUCCESS"))


class LoopWallClock(LoopClock):
    """Event timestamps in loop time, so a test can tell when each event was made."""

    def wall_ms(self) -> int:
        return round(asyncio.get_running_loop().time() * 1000)


def throttled_settings(**overrides):
    return make_settings(**{"poll_interval_ms": 5000, "heartbeat_ms": 15_000, **overrides})


async def test_a_poll_told_to_wait_an_hour_polls_again_within_a_minute():
    router = upstream_router()
    router.get("/runs/get").mock(side_effect=[HOUR, RUNNING, DONE])
    loop = asyncio.get_running_loop()
    async with open_services(throttled_settings(), transport=transport(router)) as svc:
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
    slow = throttled_settings(poll_interval_ms=20_000, poll_retry_after_max_ms=60_000)
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
    async with make_client(throttled_settings(), router) as client:
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
    async with make_client(throttled_settings(), router, clock=LoopWallClock()) as client:
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
    async with open_services(throttled_settings(), transport=transport(router)) as svc:
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
