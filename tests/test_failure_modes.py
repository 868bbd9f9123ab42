"""Failure modes: scenarios that once broke a stream, a watch or a deadline, and the fix."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from service.app import create_app
from service.clock import LoopClock
from service.errors import UpstreamUnavailable
from service.runs.subscription import End
from service.runtime import open_services
from service.upstream.retry import RetryBudget, RetryPolicy, Tier
from tests.factories import (
    advance,
    m2m_settings,
    make_client,
    make_run,
    make_settings,
    sse_events,
    timeline,
    transport,
    upstream_router,
    with_lifespan,
)


async def test_an_unreadable_reply_is_a_502_not_a_crash(client, upstream):
    upstream.get("/runs/get").respond(200, text="<html>login</html>")
    response = await client.get("/api/jobs/etl/runs/5")
    assert response.status_code == 502
    assert "login" not in response.text


async def test_a_redirect_is_not_taken_for_a_reply(client, upstream):
    upstream.get("/runs/list").respond(302, headers={"Location": "https://login.example"})
    assert (await client.get("/api/jobs/etl/status")).status_code == 502


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


async def test_a_hanging_token_endpoint_is_cut_at_the_tier_deadline():
    router = upstream_router()

    async def hang(request):
        await asyncio.Event().wait()

    def route(request):
        return hang(request) if request.url.path == "/oidc/v1/token" else router.handler(request)

    async with make_client(m2m_settings(), httpx.MockTransport(route)) as c:
        started = asyncio.get_running_loop().time()
        response = await c.get("/api/jobs/etl/status")
        elapsed = asyncio.get_running_loop().time() - started
    assert response.status_code == 504
    assert elapsed <= 31


async def test_a_client_that_missed_more_than_a_queue_resumes_in_full():
    router = upstream_router()
    steps = [(i * 5.0, "RUNNING" if i % 2 else "PENDING") for i in range(45)]
    steps.append((250.0, "TERMINATED"))
    router.get("/runs/get").mock(side_effect=timeline(steps))
    settings = make_settings(stream_queue=8, stream_buffer=64, poll_max_ms=5000)
    async with open_services(settings, transport=transport(router)) as svc:
        watch = svc.hub.watch(svc.settings.jobs["etl"], svc.service_principal, 555)
        keeper = watch.subscribe()
        first = await keeper.next()
        await advance(120)  # some 24 changes happen while the client is away
        resumed = watch.subscribe(first.id)
        items = []
        while not isinstance(item := await resumed.next(), End):
            items.append(item)
        assert item.reason == "done"
        assert [i.seq for i in items] == list(range(2, items[-1].seq + 1))


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


async def test_the_retry_budget_forgets_old_calls():
    clock = LoopClock()
    budget = RetryBudget(clock, window_s=10, floor_per_s=0)
    for _ in range(1000):
        budget.record_call()
        await advance(0.1)
    spent = 0
    while budget.try_spend():
        spent += 1
    assert spent <= 21  # a fifth of the last 10 s of calls (~101), not of all 1,000


async def test_backoff_never_runs_past_the_deadline():
    policy = RetryPolicy(LoopClock(), RetryBudget(LoopClock()))

    async def late_503(_left):
        await advance(2.5)
        raise UpstreamUnavailable("x")

    started = asyncio.get_running_loop().time()
    with pytest.raises(UpstreamUnavailable):  # the 503 itself, not a 504 after the deadline
        await policy.call(Tier("t", timeout_s=3, attempts=3), late_503)
    assert asyncio.get_running_loop().time() - started < 3


async def test_a_trigger_that_meets_shutdown_still_reports_its_run():
    router = upstream_router()
    draining = asyncio.Event()

    async def run_now(request):
        draining.set()
        await advance(0.1)  # the lifespan closes the hub meanwhile
        return httpx.Response(200, json={"run_id": 77})

    router.post("/run-now").mock(side_effect=run_now)
    async with make_client(make_settings(), router, draining=draining) as client:
        response = await client.post("/api/jobs/etl/run?stream=true", json={})
    assert response.status_code == 200
    assert response.json() == {"runId": 77}


async def test_absurdly_long_numbers_are_400(client, upstream):
    upstream.get("/runs/list").respond(json={"runs": []})
    assert (await client.get("/api/jobs/etl/runs/" + "9" * 5000)).status_code == 400
    assert (await client.get("/api/jobs/etl/runs?limit=" + "9" * 5000)).status_code == 400
    assert json.loads((await client.get("/api/jobs/etl/status")).text)["run"] is None


async def test_a_stalled_socket_is_let_go_within_a_heartbeat_and_others_go_on():
    """A client that stops reading, as Hypercorn shows it: a `send` that never completes."""
    router = upstream_router()
    router.get("/runs/get").mock(
        side_effect=timeline([(0, "PENDING"), (30, "RUNNING"), (60, "TERMINATED")])
    )
    app = create_app(
        make_settings(poll_interval_ms=5000, heartbeat_ms=15_000), upstream=transport(router)
    )
    never = asyncio.Event()
    taken: list[dict] = []

    async def stalled_send(message: dict) -> None:
        taken.append(message)
        if message["type"] == "http.response.body":  # the first chunk fills the socket
            await never.wait()

    async def silent_receive() -> dict:
        await never.wait()  # nor does the client ever say it has gone
        return {"type": "http.disconnect"}

    path = "/api/jobs/etl/runs/555/events"
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"sidecar.test")],
        "client": ("127.0.0.1", 5000),
        "server": ("sidecar.test", 80),
    }
    loop = asyncio.get_running_loop()
    async with with_lifespan(app) as (asgi, client):
        started = loop.time()
        stalled = asyncio.create_task(asgi(scope, silent_receive, stalled_send))
        healthy = asyncio.create_task(client.get(path))
        await asyncio.wait_for(stalled, 60)
        stalled_for = loop.time() - started
        response = await healthy
        metrics = (await client.get("/metrics")).text
    assert stalled_for <= 15 + 1  # one heartbeat
    assert [m["type"] for m in taken] == ["http.response.start", "http.response.body"]
    statuses = [json.loads(e["data"])["status"] for e in sse_events(response.text)]
    assert statuses == ["PENDING", "RUNNING", "TERMINATED"]  # the other watcher missed nothing
    assert "sidecar_open_streams 0.0" in metrics


async def test_an_overflowing_retry_after_is_a_503_not_a_500(client, upstream):
    upstream.get("/runs/get").respond(429, headers={"Retry-After": "9" * 400}, json={})
    response = await client.get("/api/jobs/etl/runs/555/events")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "3600"  # capped, not float('inf')
