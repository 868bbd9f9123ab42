"""Serving: the drain delay, and readiness failing before the drain."""

from __future__ import annotations

import asyncio

from service.basics.clock import LoopClock
from service.serving.server import drain_after
from tests.factories import advance, make_client, make_settings, upstream_router


async def test_draining_starts_the_drain_delay_after_stopping():
    stopping, draining = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(drain_after(stopping, draining, delay_s=5, clock=LoopClock()))
    await advance(60)
    assert not draining.is_set()  # nothing until SIGTERM
    stopping.set()
    await advance(4.9)
    assert not draining.is_set()
    await advance(0.2)
    assert draining.is_set()
    await task


async def test_with_no_delay_draining_follows_stopping_at_once():
    stopping, draining = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(drain_after(stopping, draining, delay_s=0, clock=LoopClock()))
    stopping.set()
    await asyncio.wait_for(task, 0.01)
    assert draining.is_set()


async def test_stopping_fails_readiness_and_nothing_else():
    router = upstream_router()
    trigger = router.post("/run-now").respond(json={"run_id": 9})
    stopping = asyncio.Event()
    async with make_client(make_settings(), router, stopping=stopping) as client:
        stopping.set()
        ready = await client.get("/readyz")
        run = await client.post("/api/jobs/etl/run", json={})
    assert ready.status_code == 503
    assert ready.json() == {"status": "draining"}
    assert run.json() == {"runId": 9}  # still served: the load balancer has not noticed yet
    assert trigger.called
