"""OAuth M2M through the whole service: the token endpoint's answers, faults and timing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import respx

from tests.factories import advance, m2m_settings, make_client, make_run, upstream_router

TOKEN_PATH = "/oidc/v1/token"


def token_reply(n: int, expires_in: int = 3600) -> httpx.Response:
    return httpx.Response(
        200, json={"access_token": f"tok{n}", "token_type": "Bearer", "expires_in": expires_in}
    )


def workspace(
    router: respx.MockRouter, tokens: Callable[[httpx.Request], Any]
) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    """The token endpoint answered by `tokens` (which may be async), the rest by `router`."""
    asked: list[httpx.Request] = []

    async def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path != TOKEN_PATH:
            return await router.async_handler(request)
        asked.append(request)
        reply = tokens(request)
        return await reply if asyncio.iscoroutine(reply) else reply

    return httpx.MockTransport(handle), asked


def status_route(router: respx.MockRouter) -> respx.Route:
    return router.get("/runs/list").respond(json={"runs": [make_run(1)]})


async def test_a_token_sent_in_pieces_is_read_before_it_is_used():
    # A real socket delivers the body after the headers: the token must be read, not assumed.
    async def chunks() -> AsyncIterator[bytes]:
        body = json.dumps({"access_token": "tok1", "token_type": "Bearer", "expires_in": 3600})
        for i in range(0, len(body), 7):
            yield body[i : i + 7].encode()

    router = upstream_router()
    route = status_route(router)
    transport, _ = workspace(router, lambda _: httpx.Response(200, content=chunks()))
    async with make_client(m2m_settings(), transport) as client:
        response = await client.get("/api/jobs/etl/status")
    assert response.status_code == 200
    assert route.calls.last.request.headers["authorization"] == "Bearer tok1"


@pytest.mark.parametrize(
    "fault",
    [
        httpx.Response(503, json={"error": "temporarily_unavailable"}),
        httpx.Response(500, text="<html>oops</html>"),
        httpx.Response(429, headers={"Retry-After": "2"}),
        httpx.Response(200, text="not json"),
    ],
    ids=["503", "500-html", "429", "unreadable"],
)
async def test_a_failing_token_endpoint_is_retried_within_the_tier(fault):
    replies = iter([fault, token_reply(1)])
    router = upstream_router()
    route = status_route(router)
    transport, asked = workspace(router, lambda _: next(replies))
    async with make_client(m2m_settings(), transport) as client:
        response = await client.get("/api/jobs/etl/status")
    assert response.status_code == 200
    assert len(asked) == 2
    assert route.call_count == 1


async def test_a_token_endpoint_that_hangs_once_is_asked_again():
    attempts = 0

    async def hang_once(_request: httpx.Request) -> httpx.Response:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            await asyncio.Event().wait()
        return token_reply(attempts)

    router = upstream_router()
    route = status_route(router)
    transport, asked = workspace(router, hang_once)
    async with make_client(m2m_settings(), transport) as client:
        started = asyncio.get_running_loop().time()
        response = await client.get("/api/jobs/etl/status")
        elapsed = asyncio.get_running_loop().time() - started
    assert response.status_code == 200
    assert len(asked) == 2
    assert route.calls.last.request.headers["authorization"] == "Bearer tok2"
    assert elapsed < 30  # within the read tier's budget


@pytest.mark.parametrize("status", [400, 401, 403])
async def test_refused_client_credentials_are_502_at_once(status):
    router = upstream_router()
    route = status_route(router)
    refusal = httpx.Response(status, json={"error": "invalid_client"})
    transport, asked = workspace(router, lambda _: refusal)
    async with make_client(m2m_settings(), transport) as client:
        response = await client.get("/api/jobs/etl/status")
    assert response.status_code == 502
    assert response.json() == {
        "error": "Databricks refused the service's credentials",
        "code": "UPSTREAM_AUTH",
        "plugin": "jobs",
    }
    assert len(asked) == 1  # not retried
    assert route.call_count == 0


async def test_a_token_endpoint_down_for_the_whole_budget_is_502():
    router = upstream_router()
    route = status_route(router)
    transport, asked = workspace(router, lambda _: httpx.Response(503))
    async with make_client(m2m_settings(), transport) as client:
        response = await client.get("/api/jobs/etl/status")
    assert response.status_code == 502
    assert response.json()["code"] == "UPSTREAM_UNAVAILABLE"
    assert len(asked) == 3  # the read tier's attempts, no more
    assert route.call_count == 0


async def test_a_short_lived_token_is_reused_until_halfway_through_its_life():
    counter = iter(range(1, 100))
    router = upstream_router()
    route = router.get("/runs/get").respond(json=make_run(5))
    transport, asked = workspace(router, lambda _: token_reply(next(counter), expires_in=20))
    async with make_client(m2m_settings(cache_ttl_ms=1), transport) as client:
        for _ in range(4):
            assert (await client.get("/api/jobs/etl/runs/5")).status_code == 200
            await advance(3)
        # 12 s in: past half of the first token's 20 s life, before its end.
        assert (await client.get("/api/jobs/etl/runs/5")).status_code == 200
    headers = [c.request.headers["authorization"] for c in route.calls]
    assert headers == ["Bearer tok1"] * 4 + ["Bearer tok2"]
    assert len(asked) == 2


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
