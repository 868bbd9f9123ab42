"""Request bodies are bounded: too big is a 413, too slow a 408, too deep a 400; none run a job."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from service.app import create_app
from tests.factories import make_client, make_settings, transport, upstream_router, with_lifespan


async def test_declared_length_past_the_limit_is_413_before_the_body_is_read(client, upstream):
    trigger = upstream.post("/run-now").respond(json={"run_id": 7})
    response = await client.post(
        "/api/jobs/etl/run", content=b"{" + b" " * 70_000 + b"}"
    )  # default limit 64 KiB
    assert response.status_code == 413
    assert response.json() == {
        "error": "Request body is larger than 65536 bytes",
        "code": "PAYLOAD_TOO_LARGE",
        "plugin": "jobs",
    }
    assert not trigger.called


async def test_streamed_body_past_the_limit_is_413(upstream):
    trigger = upstream.post("/run-now").respond(json={"run_id": 7})
    sent = 0

    async def chunks():  # no Content-Length: chunked
        nonlocal sent
        yield b'{"params": {"x": "'
        for _ in range(100):
            sent += 1024
            yield b"a" * 1024
        yield b'"}}'

    async with make_client(make_settings(max_body_bytes=10_000), upstream) as client:
        response = await client.post("/api/jobs/etl/run", content=chunks())
    assert response.status_code == 413
    assert response.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert not trigger.called


async def test_body_within_the_limit_is_read(upstream):
    trigger = upstream.post("/run-now").respond(json={"run_id": 7})
    body = b'{"params": {"job_parameters": {"x": "' + b"a" * 9_000 + b'"}}}'
    async with make_client(make_settings(max_body_bytes=10_000), upstream) as client:
        response = await client.post("/api/jobs/etl/run", content=body)
    assert response.json() == {"runId": 7}
    assert trigger.called


async def test_body_that_stops_arriving_is_408_at_the_body_timeout():
    router = upstream_router()
    trigger = router.post("/run-now").respond(json={"run_id": 7})
    app = create_app(make_settings(body_timeout_ms=2_000), upstream=transport(router))
    stalled = asyncio.Event()
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/jobs/etl/run",
        "raw_path": b"/api/jobs/etl/run",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost"), (b"content-length", b"100")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 2),
    }
    parts = [{"type": "http.request", "body": b'{"params"', "more_body": True}]

    async def receive() -> dict[str, Any]:
        if parts:
            return parts.pop()
        await stalled.wait()  # the client sends nothing more
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async with with_lifespan(app) as (asgi, _):
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.wait_for(asgi({**scope, "state": {}}, receive, send), 60)
        elapsed = loop.time() - started
    assert sent[0]["status"] == 408
    assert b'"code":"REQUEST_TIMEOUT"' in sent[1]["body"]
    assert elapsed == pytest.approx(2.0, abs=0.01)
    assert not trigger.called


@pytest.mark.parametrize("depth", [1_000, 20_000])
async def test_deeply_nested_body_is_400_not_500(client, upstream, depth):
    trigger = upstream.post("/run-now").respond(json={"run_id": 7})
    body = b'{"params": {"x": ' + b"[" * depth + b"]" * depth + b"}}"
    response = await client.post("/api/jobs/etl/run", content=body)
    assert response.status_code == 400
    assert response.json() == {
        "error": "Request body is nested too deeply",
        "code": "BAD_REQUEST",
        "plugin": "jobs",
    }
    assert not trigger.called
