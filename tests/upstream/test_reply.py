"""Replies that are not what they claim: checked before they are cached or passed on, and capped."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from service.basics.clock import LoopClock
from service.basics.errors import UpstreamTooLarge
from service.upstream.auth import Identity
from service.upstream.client import JobsClient
from service.upstream.retry import RetryBudget, RetryPolicy
from tests.factories import (
    DATE,
    HOST,
    JOB_IDS,
    StoppedWallClock,
    advance,
    m2m_settings,
    make_client,
    make_settings,
    transport,
    upstream_router,
)

LOGIN_PAGE = "<html><body>Sign in to continue</body></html>"


def streamed(chunks: int, size: int, pulled: list[int]) -> AsyncIterator[bytes]:
    """A body of `chunks` x `size` bytes, counting the chunks the reader pulls."""

    async def body() -> AsyncIterator[bytes]:
        yield b'{"job_id": 101, "pad": "'
        for _ in range(chunks):
            pulled.append(size)
            yield b"x" * size
        yield b'"}'

    return body()


async def test_an_html_job_reply_is_502_and_never_cached(client, upstream):
    route = upstream.get("/get").respond(
        200, text=LOGIN_PAGE, headers={"Content-Type": "text/html"}
    )
    first = await client.get("/api/jobs/etl")
    route.respond(json={"job_id": JOB_IDS["etl"]})
    second = await client.get("/api/jobs/etl")
    assert (first.status_code, first.json()["code"]) == (502, "UPSTREAM_INVALID")
    assert "Sign in" not in first.text
    assert (second.status_code, second.json()["job_id"]) == (200, JOB_IDS["etl"])


async def test_html_is_invalid_whatever_the_body(client, upstream):
    body = b'{"job_id": 101}'
    upstream.get("/get").respond(200, content=body, headers={"Content-Type": "text/html"})
    response = await client.get("/api/jobs/etl")
    assert (response.status_code, response.json()["code"]) == (502, "UPSTREAM_INVALID")


async def test_a_garbled_reply_then_a_good_one_is_a_200(client, upstream):
    upstream.get("/get").mock(
        side_effect=[
            httpx.Response(200, text=LOGIN_PAGE, headers={"Content-Type": "text/html"}),
            httpx.Response(200, json={"job_id": JOB_IDS["etl"]}),
        ]
    )
    response = await client.get("/api/jobs/etl")
    assert (response.status_code, response.json()["job_id"]) == (200, JOB_IDS["etl"])


async def test_a_valid_reply_reaches_the_client_byte_for_byte(client, upstream):
    body = b'{"job_id": 101,  "settings": {"name": "etl", "x-new-field": [1, 2.5, null]}}'
    upstream.get("/get").respond(200, content=body, headers={"Content-Type": "application/json"})
    response = await client.get("/api/jobs/etl")
    assert response.content == body


async def test_a_reply_over_the_cap_is_502_and_read_no_further():
    router = upstream_router()
    pulled: list[int] = []
    route = router.get("/get").mock(
        side_effect=lambda _: httpx.Response(200, content=streamed(1000, 1024, pulled))
    )
    async with make_client(make_settings(max_upstream_bytes=64 * 1024), router) as client:
        response = await client.get("/api/jobs/etl")
    assert (response.status_code, response.json()["code"]) == (502, "UPSTREAM_TOO_LARGE")
    assert sum(pulled) <= 65 * 1024  # of a 1 MB body, about the cap was read
    assert route.call_count == 1  # not retried: the next answer would be as long


async def test_a_declared_length_over_the_cap_is_refused_before_reading():
    router = upstream_router()
    pulled: list[int] = []
    router.get("/get").mock(
        side_effect=lambda _: httpx.Response(
            200, content=streamed(1000, 1024, pulled), headers={"Content-Length": "1048600"}
        )
    )
    async with make_client(make_settings(max_upstream_bytes=64 * 1024), router) as client:
        response = await client.get("/api/jobs/etl")
    assert response.json()["code"] == "UPSTREAM_TOO_LARGE"
    assert pulled == []


async def test_a_reply_under_the_cap_is_whole():
    router = upstream_router()
    pulled: list[int] = []
    router.get("/get").mock(
        side_effect=lambda _: httpx.Response(200, content=streamed(60, 1024, pulled))
    )
    async with make_client(make_settings(max_upstream_bytes=64 * 1024), router) as client:
        response = await client.get("/api/jobs/etl")
    assert response.status_code == 200
    assert len(response.json()["pad"]) == 60 * 1024


class ReadingAuth(httpx.Auth):
    """An auth flow that reads every reply's body, as a token-renewing flow may."""

    requires_response_body = True

    def __init__(self) -> None:
        self.seen: list[bytes] = []

    def auth_flow(self, request):
        request.headers["Authorization"] = "Bearer t"
        response = yield request
        self.seen.append(response.content)


@pytest.mark.parametrize(("chunks", "ok"), [(4, True), (100, False)])
async def test_the_cap_holds_under_an_auth_flow_that_reads_bodies(chunks, ok):
    router = upstream_router()
    router.get("/get").mock(
        side_effect=lambda _: httpx.Response(200, content=streamed(chunks, 1024, []))
    )
    auth = ReadingAuth()
    clock = LoopClock()
    async with httpx.AsyncClient(base_url=HOST, transport=transport(router)) as http:
        client = JobsClient(http, RetryPolicy(clock, RetryBudget(clock)), max_reply_bytes=8 * 1024)
        if ok:
            raw = await client.get_job(Identity("sp", auth), 101)
            assert bytes(raw) == auth.seen[0]
        else:
            with pytest.raises(UpstreamTooLarge):
                await client.get_job(Identity("sp", auth), 101)


async def test_oauth_calls_read_the_token_and_stream_the_reply():
    router = upstream_router()
    token = router.post(f"{HOST}/oidc/v1/token").respond(
        json={"access_token": "tok", "token_type": "Bearer", "expires_in": 3600}
    )
    api = router.get("/get").mock(
        side_effect=lambda _: httpx.Response(200, content=streamed(4, 1024, []))
    )
    async with make_client(m2m_settings(), router) as client:
        response = await client.get("/api/jobs/etl")
    assert response.status_code == 200
    assert token.call_count == 1
    assert api.calls[0].request.headers["authorization"] == "Bearer tok"


async def test_a_trickling_body_ends_its_attempt_and_is_retried():
    """1 byte a second: the attempt is cut at timeout_ms (10 s) and the read tier tries again."""
    router = upstream_router()

    async def trickle() -> AsyncIterator[bytes]:
        for byte in b'{"job_id": 101}':
            await advance(1)  # loop time: the test takes none of it
            yield bytes([byte])

    route = router.get("/get").mock(
        side_effect=[
            httpx.Response(200, content=trickle()),
            httpx.Response(200, json={"job_id": JOB_IDS["etl"]}),
        ]
    )
    loop = asyncio.get_running_loop()
    async with make_client(make_settings(), router) as client:
        started = loop.time()
        response = await client.get("/api/jobs/etl")
        elapsed = loop.time() - started
    assert response.status_code == 200
    assert route.call_count == 2
    assert 10 <= elapsed < 15  # one attempt's deadline and a backoff, not the 30 s budget


async def test_an_unreadable_reply_is_a_502_not_a_crash(client, upstream):
    upstream.get("/runs/get").respond(200, text="<html>login</html>")
    response = await client.get("/api/jobs/etl/runs/5")
    assert response.status_code == 502
    assert "login" not in response.text


async def test_a_redirect_is_not_taken_for_a_reply(client, upstream):
    upstream.get("/runs/list").respond(302, headers={"Location": "https://login.example"})
    assert (await client.get("/api/jobs/etl/status")).status_code == 502


@pytest.mark.parametrize("where", ["api", "token"])
async def test_a_throttled_reply_with_a_date_tells_the_client_the_seconds_left(where):
    router = upstream_router()
    throttled = {"status_code": 429, "headers": {"Retry-After": DATE}, "json": {}}
    if where == "api":
        settings = make_settings()
        router.get("/runs/get").respond(**throttled)
    else:
        settings = m2m_settings()
        router.post(f"{HOST}/oidc/v1/token").respond(**throttled)
    async with make_client(settings, router, clock=StoppedWallClock()) as client:
        response = await client.get("/api/jobs/etl/runs/555")
    assert response.status_code == 503
    assert response.json()["code"] == "UPSTREAM_THROTTLED"
    assert response.headers["retry-after"] == "30"
