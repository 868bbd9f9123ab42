"""Streams over real Hypercorn on loopback: a live stream at once, a clean SIGTERM, gone clients
released, nothing left behind."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from service.app import create_app
from tests.e2e.servers import running
from tests.factories import gauge, make_run, make_settings, transport, upstream_router

pytestmark = pytest.mark.looptime(False)


async def test_a_stream_starts_at_once_while_the_first_poll_is_unanswered():
    router = upstream_router()
    router.post("/run-now").respond(json={"run_id": 555})
    answer = asyncio.Event()

    async def held_poll(_request: httpx.Request) -> httpx.Response:
        await answer.wait()
        return httpx.Response(200, json=make_run(555, state="TERMINATED", result="SUCCESS"))

    router.get("/runs/get").mock(side_effect=held_poll)
    app = create_app(make_settings(poll_interval_ms=1000), upstream=transport(router))
    async with (
        running(app) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as client,
        client.stream("POST", "/api/jobs/etl/run?stream=true", json={}) as response,
    ):
        chunks = response.aiter_bytes()
        first = b""
        while b"event: run" not in first:  # flushed through Hypercorn, no poll answered yet
            first += await asyncio.wait_for(anext(chunks), 5)
        answer.set()
        rest = b"".join([chunk async for chunk in chunks])
    assert response.headers["content-type"].startswith("text/event-stream")
    assert first.startswith(b"retry: ")
    assert b'"runId":555' in first
    assert b'"status":"TERMINATED"' in rest


async def test_shutdown_ends_open_streams_with_a_final_event():
    router = upstream_router()
    router.get("/runs/get").respond(json=make_run(555, state="RUNNING"))
    draining = asyncio.Event()
    settings = make_settings(poll_interval_ms=1000)
    app = create_app(settings, upstream=transport(router), draining=draining)
    received: list[bytes] = []

    async def watch(client: httpx.AsyncClient) -> None:
        async with client.stream("GET", "/api/jobs/etl/runs/555/events") as response:
            async for chunk in response.aiter_bytes():
                received.append(chunk)

    async with (
        running(app, shutdown=draining) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as client,
    ):
        watchers = [asyncio.create_task(watch(client)) for _ in range(20)]
        while sum(b"event: message" in c for c in received) < 20:
            await asyncio.sleep(0.01)
        started = time.monotonic()
        draining.set()
        await asyncio.wait_for(asyncio.gather(*watchers), 10)
        elapsed = time.monotonic() - started
    assert sum(b"event: shutdown" in c for c in received) == 20
    assert elapsed < 5


async def test_gone_clients_are_noticed_and_their_streams_released():
    router = upstream_router()
    router.get("/runs/get").respond(json=make_run(555, state="RUNNING"))
    settings = make_settings(poll_interval_ms=1000)
    app = create_app(settings, upstream=transport(router))
    async with running(app) as url, httpx.AsyncClient(base_url=url) as probe:
        for _ in range(50):
            async with (
                httpx.AsyncClient(base_url=url) as client,
                client.stream("GET", "/api/jobs/etl/runs/555/events") as response,
            ):
                async for chunk in response.aiter_bytes():
                    if b"event: message" in chunk:
                        break
        for _ in range(200):
            metrics = (await probe.get("/metrics")).text
            if gauge(metrics, "sidecar_open_streams") == 0:
                break
            await asyncio.sleep(0.01)
    assert gauge(metrics, "sidecar_open_streams") == 0
    assert gauge(metrics, "sidecar_run_watches") == 1  # one shared watch, idle, about to stop


async def test_connect_disconnect_cycles_leave_no_tasks_or_memory_behind():
    import gc  # noqa: PLC0415
    import tracemalloc  # noqa: PLC0415

    router = upstream_router()
    router.get("/runs/get").respond(json=make_run(555, state="RUNNING"))
    app = create_app(make_settings(poll_interval_ms=1000), upstream=transport(router))
    request = b"GET /api/jobs/etl/runs/555/events HTTP/1.1\r\nHost: localhost\r\n\r\n"

    async def cycle(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        while b"event: message" not in await reader.read(65536):
            pass
        writer.close()
        await writer.wait_closed()

    async def settle(probe: httpx.AsyncClient) -> None:
        while gauge((await probe.get("/metrics")).text, "sidecar_open_streams") != 0:
            await asyncio.sleep(0.01)
        gc.collect()

    async with running(app) as url, httpx.AsyncClient(base_url=url) as probe:
        port = int(url.rsplit(":", 1)[1])
        for _ in range(200):  # warm up: pools, caches, code paths
            await cycle(port)
        await settle(probe)
        tracemalloc.start()
        tasks_before = len(asyncio.all_tasks())
        memory_before = tracemalloc.get_traced_memory()[0]
        for _ in range(1000):
            await cycle(port)
        await settle(probe)
        tasks_after = len(asyncio.all_tasks())
        memory_after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
    # Nothing grows with the cycles: at most one closing connection's three tasks in flight.
    assert tasks_after <= tasks_before + 3
    assert memory_after - memory_before < 256 * 1024
