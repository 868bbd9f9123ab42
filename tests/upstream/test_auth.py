"""Credentials: PAT headers, and OAuth M2M tokens shared, refreshed early, renewed on refusal."""

from __future__ import annotations

import asyncio
import base64
import json
from contextlib import asynccontextmanager

import httpx
import pytest
import respx

from service.basics.clock import LoopClock
from service.basics.errors import UpstreamAuthFailed
from service.upstream.auth import BearerAuth, OAuthM2MAuth
from service.upstream.tokens import TokenEndpoint
from tests.factories import (
    advance,
    m2m_settings,
    make_client,
    make_run,
    sse_events,
    upstream_router,
)

HOST = "https://ws.test"


def workspace(expires_in=3600):
    router = respx.MockRouter(base_url=HOST)
    issued = []

    def token(request):
        issued.append(request)
        return httpx.Response(
            200,
            json={
                "access_token": f"tok{len(issued)}",
                "token_type": "Bearer",
                "expires_in": expires_in,
            },
        )

    router.post("/oidc/v1/token").mock(side_effect=token)
    api = router.get("/api/2.1/jobs/runs/list").respond(json={})
    return router, issued, api


@asynccontextmanager
async def m2m(router, secret="sec"):  # noqa: S107 - a test client secret
    """A client whose requests carry OAuth M2M tokens fetched through the client itself."""
    transport = httpx.MockTransport(router.async_handler)
    async with httpx.AsyncClient(base_url=HOST, transport=transport) as http:
        http.auth = OAuthM2MAuth(
            TokenEndpoint(http, HOST, "cid", secret, clock=LoopClock()), clock=LoopClock()
        )
        yield http


async def test_token_request_is_client_credentials_with_basic_auth():
    router, issued, _ = workspace()
    async with m2m(router) as http:
        await http.get("/api/2.1/jobs/runs/list")
    (request,) = issued
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"cid:sec").decode()
    assert request.content == b"grant_type=client_credentials&scope=all-apis"


async def test_concurrent_callers_share_one_refresh():
    router, issued, api = workspace()
    async with m2m(router) as http:
        await asyncio.gather(*(http.get("/api/2.1/jobs/runs/list") for _ in range(50)))
    assert len(issued) == 1
    assert {c.request.headers["authorization"] for c in api.calls} == {"Bearer tok1"}


async def test_token_is_refreshed_forty_seconds_before_expiry():
    router, _issued, api = workspace(expires_in=3600)
    async with m2m(router) as http:
        await http.get("/api/2.1/jobs/runs/list")
        await advance(3600 - 41)
        await http.get("/api/2.1/jobs/runs/list")
        await advance(2)
        await http.get("/api/2.1/jobs/runs/list")
    assert [c.request.headers["authorization"] for c in api.calls] == [
        "Bearer tok1",
        "Bearer tok1",
        "Bearer tok2",
    ]


async def test_a_refused_token_is_renewed_once_and_the_request_retried():
    router, _issued, _ = workspace()
    seen = []

    def refuse_first(request):
        seen.append(request.headers["authorization"])
        if len(seen) == 1:
            return httpx.Response(
                403,
                json={"error_code": 403, "message": "Invalid access token."},
                headers={"X-Databricks-Reason-Phrase": "Invalid access token."},
            )
        return httpx.Response(200, json={"run_id": 1})

    router.get("/api/2.1/jobs/runs/get").mock(side_effect=refuse_first)
    async with m2m(router) as http:
        response = await http.get("/api/2.1/jobs/runs/get")
    assert response.status_code == 200
    assert seen == ["Bearer tok1", "Bearer tok2"]


async def test_permission_denied_is_not_a_token_problem():
    router, issued, _ = workspace()
    router.get("/api/2.1/jobs/runs/get").respond(
        403, json={"error_code": "PERMISSION_DENIED", "message": "no"}
    )
    async with m2m(router) as http:
        response = await http.get("/api/2.1/jobs/runs/get")
    assert response.status_code == 403
    assert len(issued) == 1


async def test_refused_client_credentials_raise_our_error():
    router = respx.MockRouter(base_url=HOST)
    router.post("/oidc/v1/token").respond(401, json={"error": "invalid_client"})
    async with m2m(router, secret="bad") as http:
        with pytest.raises(UpstreamAuthFailed):
            await http.get("/api/2.1/jobs/runs/list")


async def test_bearer_auth_sets_the_header_and_hides_the_token():
    auth = BearerAuth("dapi-xyz")
    request = httpx.Request("GET", HOST)
    flow = auth.sync_auth_flow(request)
    assert next(flow).headers["authorization"] == "Bearer dapi-xyz"
    assert "dapi-xyz" not in repr(auth)


async def test_m2m_token_expiring_mid_stream_is_refreshed_ahead_with_no_401():
    router = upstream_router()
    issued: dict[str, float] = {}

    def token(request):
        name = f"tok{len(issued) + 1}"
        issued[name] = asyncio.get_running_loop().time() + 120
        return httpx.Response(
            200, json={"access_token": name, "token_type": "Bearer", "expires_in": 120}
        )

    refused = []

    def get_run(request):
        name = request.headers["authorization"].removeprefix("Bearer ")
        if issued.get(name, 0) <= asyncio.get_running_loop().time():
            refused.append(name)
            return httpx.Response(403, json={"error_code": 403, "message": "Invalid access token."})
        done = asyncio.get_running_loop().time() > 400
        return httpx.Response(
            200,
            json=make_run(
                5, state="TERMINATED" if done else "RUNNING", result="SUCCESS" if done else None
            ),
        )

    token_router = httpx.MockTransport(
        lambda r: token(r) if r.url.path == "/oidc/v1/token" else router.handler(r)
    )
    router.get("/runs/get").mock(side_effect=get_run)
    async with make_client(m2m_settings(poll_max_ms=5000), token_router) as client:
        response = await client.get("/api/jobs/etl/runs/5/events")
    statuses = [json.loads(e["data"])["status"] for e in sse_events(response.text)]
    assert statuses == ["RUNNING", "TERMINATED"]
    assert refused == []
    assert len(issued) >= 4  # 400 s of polling with 120 s tokens, each renewed 40 s early
