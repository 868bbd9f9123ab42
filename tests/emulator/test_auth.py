"""Credentials: bearer tokens on /api/, OAuth M2M tokens, and the discovery documents."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette

from service.emulator import ManualClock, ScaledClock, create_emulator_app
from tests.emulator.conftest import NOTEBOOK, make_app, make_client, make_scenario

JOB = f"/api/2.2/jobs/get?job_id={NOTEBOOK}"
BASIC = httpx.BasicAuth("local-client", "local-secret")


async def test_a_call_without_credentials_is_401(app: Starlette) -> None:
    async with make_client(app, token=None) as client:
        response = await client.get(JOB)
    assert response.status_code == 401
    assert response.json() == {
        "error_code": 401,
        "message": "Credential was not sent or was of an unsupported type for this API.",
    }


async def test_basic_credentials_on_the_api_are_401(app: Starlette) -> None:
    async with make_client(app, token=None) as client:
        response = await client.get(JOB, auth=BASIC)
    assert response.status_code == 401


async def test_a_refused_token_is_403_with_the_reason_header(app: Starlette) -> None:
    async with make_client(app, token="dapi-revoked") as client:
        response = await client.get(JOB)
    assert response.status_code == 403
    assert response.json() == {"error_code": 403, "message": "Invalid access token."}
    assert response.headers["x-databricks-reason-phrase"] == "Invalid access token."


async def test_any_other_token_works_while_accept_any_token_is_on(app: Starlette) -> None:
    async with make_client(app, token="a-forwarded-user-token") as client:
        assert (await client.get(JOB)).status_code == 200


async def test_only_known_tokens_work_when_accept_any_token_is_off(clock: ManualClock) -> None:
    app = make_app(make_scenario(accept_any_token=False), clock=clock)
    async with make_client(app, token="a-forwarded-user-token") as client:
        assert (await client.get(JOB)).status_code == 403
    async with make_client(app) as client:
        assert (await client.get(JOB)).status_code == 200


async def test_unknown_api_paths_need_auth_then_are_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/2.2/jobs/runs/nothing")
    assert response.status_code == 404
    assert response.json()["error_code"] == "ENDPOINT_NOT_FOUND"


async def test_a_wrong_method_is_404_endpoint_not_found(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/2.2/jobs/run-now")
    assert response.json() == {
        "error_code": "ENDPOINT_NOT_FOUND",
        "message": "No API found for 'GET /2.2/jobs/run-now'",
    }


async def test_the_token_endpoint_issues_bearer_tokens_for_known_clients(
    app: Starlette,
) -> None:
    async with make_client(app, token=None) as client:
        response = await client.post(
            "/oidc/v1/token",
            data={"grant_type": "client_credentials", "scope": "all-apis"},
            auth=BASIC,
        )
    body = response.json()
    assert response.status_code == 200
    assert body == {
        "access_token": body["access_token"],
        "token_type": "Bearer",
        "expires_in": 3600,
        "scope": "all-apis",
    }


async def test_client_credentials_may_come_in_the_form(app: Starlette) -> None:
    form = {
        "grant_type": "client_credentials",
        "client_id": "local-client",
        "client_secret": "local-secret",
    }
    async with make_client(app, token=None) as client:
        assert (await client.post("/oidc/v1/token", data=form)).status_code == 200


@pytest.mark.parametrize(
    "auth",
    [httpx.BasicAuth("local-client", "wrong"), httpx.BasicAuth("nobody", "x"), httpx.Auth()],
    ids=["wrong secret", "unknown client", "no credentials"],
)
async def test_a_bad_client_is_401_invalid_client(app: Starlette, auth: httpx.Auth) -> None:
    async with make_client(app, token=None) as client:
        response = await client.post(
            "/oidc/v1/token", data={"grant_type": "client_credentials"}, auth=auth
        )
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "error": "invalid_client",
        "error_description": "Client authentication failed",
    }


async def test_only_the_client_credentials_grant_is_supported(app: Starlette) -> None:
    async with make_client(app, token=None) as client:
        response = await client.post("/oidc/v1/token", data={"grant_type": "password"}, auth=BASIC)
    assert (response.status_code, response.json()["error"]) == (400, "unsupported_grant_type")


async def issue_token(app: Starlette) -> str:
    async with make_client(app, token=None) as client:
        response = await client.post(
            "/oidc/v1/token", data={"grant_type": "client_credentials"}, auth=BASIC
        )
    return str(response.json()["access_token"])


async def test_an_issued_token_works_until_it_expires_on_the_emulator_clock(
    clock: ManualClock,
) -> None:
    app = make_app(make_scenario(accept_any_token=False, token_ttl_s=60), clock=clock)
    token = await issue_token(app)
    async with make_client(app, token=token) as client:
        fresh = await client.get(JOB)
        clock.advance(60_000)
        expired = await client.get(JOB)
    assert (fresh.status_code, expired.status_code) == (200, 403)


async def test_an_expired_token_is_refused_even_when_any_token_is_accepted(
    clock: ManualClock,
) -> None:
    app = make_app(make_scenario(token_ttl_s=60), clock=clock)
    token = await issue_token(app)
    clock.advance(60_000)
    async with make_client(app, token=token) as client:
        assert (await client.get(JOB)).status_code == 403


async def test_expires_in_counts_real_seconds_on_a_fast_clock() -> None:
    app = create_emulator_app(make_scenario(), clock=ScaledClock(speed=20))
    async with make_client(app, token=None) as client:
        response = await client.post(
            "/oidc/v1/token", data={"grant_type": "client_credentials"}, auth=BASIC
        )
    assert response.json()["expires_in"] == 180


async def test_host_metadata_points_at_this_workspace(app: Starlette) -> None:
    async with make_client(app, token=None) as client:
        response = await client.get("/.well-known/databricks-config")
    assert response.json() == {
        "oidc_endpoint": "http://workspace.test/oidc",
        "workspace_id": "1234567890123456",
        "account_id": "7e1a9c1d-0b2f-4c3e-9d5a-6f7b8c9d0e1f",
        "cloud": "AWS",
        "host_type": "workspace",
    }


async def test_the_oauth_server_metadata_names_the_token_endpoint(app: Starlette) -> None:
    async with make_client(app, token=None) as client:
        response = await client.get("/oidc/.well-known/oauth-authorization-server")
    assert response.json() == {
        "issuer": "http://workspace.test/oidc",
        "authorization_endpoint": "http://workspace.test/oidc/v1/authorize",
        "token_endpoint": "http://workspace.test/oidc/v1/token",
    }


async def test_a_configured_base_url_wins_over_the_host_header(clock: ManualClock) -> None:
    app = create_emulator_app(make_scenario(), clock=clock, base_url="http://emulator:8001/")
    async with make_client(app, token=None) as client:
        response = await client.get("/.well-known/databricks-config")
    assert response.json()["oidc_endpoint"] == "http://emulator:8001/oidc"
