"""run_as = "user": a forwarded token is one user's, found once through SCIM `Me`, and the
user (not the token) scopes idempotency keys and cached reads."""

from __future__ import annotations

import base64
import json
import time

import httpx
import pytest

from service.jobs import Jobs
from service.runs.subscription import End
from service.runtime import open_services
from tests.factories import (
    APPS_ENV,
    HOST,
    SCIM_ME,
    advance,
    make_client,
    make_run,
    make_settings,
    proxied,
    scim_me,
    timeline,
    transport,
)

USER_JOB = '[jobs.etl]\njob_id = 101\nrun_as = "user"\n'
ALICE = {"alice-1": "alice@x.com", "alice-2": "alice@x.com", "bob-1": "bob@x.com"}


def user_job_settings(tmp_path, **overrides):
    """Behind the Apps proxy: the only mode in which a forwarded user token is taken."""
    return make_settings(USER_JOB, environ=APPS_ENV, tmp_path=tmp_path, **overrides)


@pytest.fixture
def settings(tmp_path):
    return user_job_settings(tmp_path)


@pytest.fixture
def me(upstream):
    return scim_me(upstream, ALICE)


def as_user(token: str) -> dict[str, str]:
    return proxied(ALICE.get(token, "carol@x.com"), token)


def jwt(exp: float) -> str:
    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256'})}.{part({'sub': 'carol', 'exp': int(exp)})}.c2ln"


async def trigger(client, token: str, key: str) -> str:
    response = await client.post(
        "/api/jobs/etl/run", json={}, headers={**as_user(token), "Idempotency-Key": key}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["runId"])


async def test_the_same_user_after_a_token_refresh_gets_the_same_run(client, upstream, me):
    route = upstream.post("/run-now").respond(json={"run_id": 7})
    first = await trigger(client, "alice-1", "order-17")
    second = await trigger(client, "alice-2", "order-17")  # alice's token was refreshed
    # The key is remembered under alice's SCIM id, so her second trigger is not even sent.
    assert first == second == "7"
    assert route.call_count == 1


async def test_two_users_with_the_same_key_get_two_runs(client, upstream, me):
    route = upstream.post("/run-now").respond(json={"run_id": 7})
    await trigger(client, "alice-1", "order-17")
    await trigger(client, "bob-1", "order-17")
    first, second = (json.loads(c.request.content) for c in route.calls)
    assert first["idempotency_token"] != second["idempotency_token"]


async def test_the_same_user_after_a_token_refresh_shares_cached_reads(client, upstream, me):
    route = upstream.get("/runs/list").respond(json={"runs": [make_run(1)]})
    for token in ("alice-1", "alice-2", "bob-1"):
        response = await client.get("/api/jobs/etl/status", headers=as_user(token))
        assert response.status_code == 200
    assert [c.request.headers["authorization"] for c in route.calls] == [
        "Bearer alice-1",
        "Bearer bob-1",
    ]


async def test_me_is_asked_once_per_token(tmp_path, upstream, me):
    upstream.get("/runs/list").respond(json={"runs": [make_run(1)]})
    settings = user_job_settings(tmp_path, cache_ttl_ms=1)
    async with make_client(settings, upstream) as client:
        for _ in range(3):
            await client.get("/api/jobs/etl/status", headers=as_user("alice-1"))
            await advance(60)
    assert me.call_count == 1


async def test_a_tokens_owner_is_forgotten_when_the_token_expires(tmp_path, upstream):
    token = jwt(exp=time.time() + 120)
    me = scim_me(upstream, {token: "carol@x.com"})
    upstream.get("/runs/list").respond(json={"runs": []})
    async with make_client(user_job_settings(tmp_path), upstream) as client:
        await client.get("/api/jobs/etl/status", headers=as_user(token))
        await advance(100)
        await client.get("/api/jobs/etl/status", headers=as_user(token))
        assert me.call_count == 1
        await advance(30)  # past the JWT's exp
        await client.get("/api/jobs/etl/status", headers=as_user(token))
    assert me.call_count == 2


async def test_a_pats_owner_is_remembered_for_an_hour_at_most(tmp_path, upstream, me):
    upstream.get("/runs/list").respond(json={"runs": []})
    async with make_client(user_job_settings(tmp_path), upstream) as client:
        for wait in (0, 3590, 20):
            await advance(wait)
            await client.get("/api/jobs/etl/status", headers=as_user("alice-1"))
    assert me.call_count == 2


@pytest.mark.parametrize(
    "refusal",
    [
        httpx.Response(401, json={"error_code": 401, "message": "Credential was not sent"}),
        httpx.Response(
            403,
            json={"error_code": 403, "message": "Invalid access token."},
            headers={"X-Databricks-Reason-Phrase": "Invalid access token."},
        ),
    ],
    ids=["401", "403-invalid-token"],
)
async def test_a_refused_user_token_is_401_and_nothing_else_is_called(client, upstream, refusal):
    upstream.get(f"{HOST}{SCIM_ME}").mock(return_value=refusal)
    jobs_call = upstream.get("/runs/list").respond(json={"runs": []})
    response = await client.get("/api/jobs/etl/status", headers=as_user("expired"))
    assert response.status_code == 401
    assert response.json() == {
        "error": "Databricks refused the forwarded user token; sign in again",
        "code": "USER_TOKEN_REFUSED",
        "plugin": "jobs",
    }
    assert jobs_call.call_count == 0


async def test_a_token_that_may_not_ask_who_it_is_is_502(client, upstream):
    denied = {"error_code": "PERMISSION_DENIED", "message": "scope iam.current-user:read"}
    upstream.get(f"{HOST}{SCIM_ME}").respond(403, json=denied)
    jobs_call = upstream.get("/runs/list").respond(json={"runs": []})
    response = await client.get("/api/jobs/etl/status", headers=as_user("alice-1"))
    assert response.status_code == 502
    assert response.json()["code"] == "UPSTREAM_AUTH"
    assert "scope" not in response.text
    assert jobs_call.call_count == 0


async def test_a_failing_me_is_retried_in_the_read_tier(client, upstream):
    upstream.get(f"{HOST}{SCIM_ME}").mock(
        side_effect=[httpx.Response(503), httpx.Response(200, json={"id": "42"})]
    )
    upstream.get("/runs/list").respond(json={"runs": []})
    response = await client.get("/api/jobs/etl/status", headers=as_user("alice-1"))
    assert response.status_code == 200


async def test_me_down_is_502_and_never_falls_back_to_the_token(client, upstream):
    me = upstream.get(f"{HOST}{SCIM_ME}").respond(503)
    jobs_call = upstream.get("/runs/list").respond(json={"runs": []})
    response = await client.get("/api/jobs/etl/status", headers=as_user("alice-1"))
    assert response.status_code == 502
    assert response.json()["code"] == "UPSTREAM_UNAVAILABLE"
    assert me.call_count == 3
    assert jobs_call.call_count == 0


async def test_a_me_reply_without_an_id_is_502(client, upstream):
    upstream.get(f"{HOST}{SCIM_ME}").respond(json={"userName": "alice@x.com", "id": ""})
    response = await client.get("/api/jobs/etl/status", headers=as_user("alice-1"))
    assert response.status_code == 502


async def test_an_identity_key_is_the_users_id_and_never_the_token(settings, upstream, me):
    async with open_services(settings, transport=transport(upstream)) as svc:
        identity = await svc.users.identify("alice-1")
        again = await svc.users.identify("alice-2")
    assert identity.key == again.key == "user:id-alice@x.com"
    assert "alice-1" not in repr(identity)


async def test_python_api_as_user_scopes_by_the_user(settings, upstream, me):
    route = upstream.post("/run-now").respond(json={"run_id": 7})
    async with Jobs.open(settings, transport=transport(upstream)) as jobs:
        for token in ("alice-1", "alice-2"):
            result = await jobs("etl").as_user(as_user(token)).run_now(idempotency_key="k")
            assert result.ok
            assert result.data == {"run_id": 7}
    assert route.call_count == 1  # remembered under alice's SCIM id, whatever her token


async def test_a_users_stream_polls_with_their_newest_token(settings, upstream, me):
    route = upstream.get("/runs/get").mock(
        side_effect=timeline([(0, "RUNNING"), (60, "TERMINATED")], run_id=5)
    )
    async with open_services(settings, transport=transport(upstream)) as svc:
        job = svc.settings.jobs["etl"]
        first = svc.hub.watch(job, await svc.users.identify("alice-1"), 5)
        sub = first.subscribe()
        await sub.next()
        joined = svc.hub.watch(job, await svc.users.identify("alice-2"), 5)
        while not isinstance(await sub.next(), End):
            pass
    assert joined is first  # one poll loop per (run, user)
    assert route.calls.last.request.headers["authorization"] == "Bearer alice-2"
