"""Triggers: one run per key and parameters, an answer for every trigger, even a lost one."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from service.python_api import Jobs
from tests.factories import (
    APPS_ENV,
    HOST,
    TOKEN,
    advance,
    make_client,
    make_settings,
    proxied,
    scim_me,
    transport,
    upstream_router,
)

KEYED = "order-17"


class Workspace:
    """run-now as the Jobs API does it: a token's first call starts a run, repeats return it.

    `failures` are what the next calls get instead of the answer, after the run was started
    (a lost answer), or before the request reached the workspace (`before=True`).
    """

    def __init__(self, *failures: Any, before: bool = False) -> None:
        self.runs: dict[str, int] = {}
        self.calls: list[dict[str, Any]] = []
        self.failures = list(failures)
        self.before = before

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.calls.append(body)
        failure = self.failures.pop(0) if self.failures else None
        if isinstance(failure, Exception) and self.before:
            raise failure
        if isinstance(failure, httpx.Response) and self.before:
            return failure
        run_id = self.runs.setdefault(body["idempotency_token"], 9000 + len(self.runs))
        if isinstance(failure, Exception):
            raise failure
        if failure == "hang":
            await asyncio.Event().wait()  # no answer, until the caller gives up
        if failure == "slow":
            await advance(3)  # loop time
            failure = None
        if failure is not None:
            return failure  # type: ignore[no-any-return]
        return httpx.Response(200, json={"run_id": run_id})

    @property
    def tokens(self) -> list[str]:
        return [c["idempotency_token"] for c in self.calls]


def workspace_router(workspace: Workspace):
    router = upstream_router()
    router.post("/run-now").mock(side_effect=workspace)
    scim_me(router, {"alice-token": "alice@example.com", "bob-token": "bob@example.com"})
    return router


def lost(status: int) -> httpx.Response:
    return httpx.Response(status, json={"error_code": "TEMPORARILY_UNAVAILABLE", "message": "x"})


LOST_ANSWERS = {
    "read timeout": ([httpx.ReadTimeout("slow")] * 3, 504),
    "dropped after sending": ([httpx.RemoteProtocolError("peer closed")] * 3, 502),
    "read error": ([httpx.ReadError("reset")] * 3, 502),
    "5xx after retries": ([lost(503), lost(500), lost(502)], 502),
    "unreadable 2xx": ([httpx.Response(200, text="<html>")] * 3, 502),
    # Each hang is cut at the attempt deadline (timeout_ms) and retried; the last one is a 504.
    "attempt deadline": (["hang"] * 3, 504),
    "sent, then unreachable": (
        [httpx.ReadTimeout("slow"), httpx.ConnectError("refused"), httpx.ConnectError("no")],
        502,
    ),
}


@pytest.mark.parametrize(("failures", "status"), LOST_ANSWERS.values(), ids=LOST_ANSWERS.keys())
async def test_a_lost_answer_is_outcome_unknown_with_the_key(failures, status):
    workspace = Workspace(*failures)
    async with make_client(make_settings(), workspace_router(workspace)) as client:
        response = await client.post("/api/jobs/etl/run", json={})
    body = response.json()
    assert (response.status_code, body["code"], body["plugin"]) == (
        status,
        "OUTCOME_UNKNOWN",
        "jobs",
    )
    assert body["idempotencyKey"]
    assert response.headers["idempotency-key"] == body["idempotencyKey"]
    assert len(workspace.runs) == 1  # the run was started: the client must not start another


@pytest.mark.parametrize(("failures", "status"), LOST_ANSWERS.values(), ids=LOST_ANSWERS.keys())
async def test_retrying_with_the_returned_key_returns_the_run_that_was_started(failures, status):
    workspace = Workspace(*failures)
    async with make_client(make_settings(), workspace_router(workspace)) as client:
        first = await client.post("/api/jobs/etl/run", json={})
        key = first.json()["idempotencyKey"]
        retry = await client.post("/api/jobs/etl/run", json={}, headers={"Idempotency-Key": key})
    assert first.status_code == status
    assert retry.json() == {"runId": next(iter(workspace.runs.values()))}
    assert len(workspace.runs) == 1
    assert len(set(workspace.tokens)) == 1


async def test_the_returned_key_is_the_clients_own():
    workspace = Workspace(*[httpx.ReadTimeout("slow")] * 3)
    async with make_client(make_settings(), workspace_router(workspace)) as client:
        response = await client.post(
            "/api/jobs/etl/run", json={}, headers={"Idempotency-Key": KEYED}
        )
    assert response.json()["idempotencyKey"] == KEYED
    assert response.headers["idempotency-key"] == KEYED


async def test_a_fresh_service_derives_the_same_token_from_a_generated_key():
    """The key alone is enough: another instance, with no memory of it, gets the same run."""
    workspace = Workspace(*[httpx.RemoteProtocolError("peer closed")] * 3)
    router = workspace_router(workspace)
    async with make_client(make_settings(), router) as client:
        key = (await client.post("/api/jobs/etl/run", json={})).json()["idempotencyKey"]
    async with make_client(make_settings(), router) as client:
        retry = await client.post("/api/jobs/etl/run", json={}, headers={"Idempotency-Key": key})
    assert retry.json() == {"runId": next(iter(workspace.runs.values()))}
    assert len(workspace.runs) == 1


@pytest.mark.parametrize("query", ["", "?stream=true"])
async def test_triggers_in_flight_at_shutdown_each_get_an_answer_before_the_grace_ends(query):
    workspace = Workspace("slow", "hang", "hang", "hang")
    router = workspace_router(workspace)
    settings = make_settings(shutdown_grace_ms=10_000)
    draining = asyncio.Event()
    loop = asyncio.get_running_loop()
    async with make_client(settings, router, draining=draining) as client:
        triggers = [
            asyncio.create_task(client.post("/api/jobs/etl/run", json={})) for _ in range(4)
        ]
        while len(workspace.calls) < 4:
            await asyncio.sleep(0)
        draining.set()
        started = loop.time()
        answers = await asyncio.gather(*triggers)
        elapsed = loop.time() - started
    assert sorted(a.status_code for a in answers) == [200, 503, 503, 503]
    assert {a.headers["content-type"] for a in answers} == {"application/json"}
    assert 3 < elapsed < settings.shutdown_grace_ms / 1000  # Hypercorn cuts connections then
    unknown = [a.json() for a in answers if a.status_code == 503]
    assert {u["code"] for u in unknown} == {"OUTCOME_UNKNOWN"}
    async with make_client(make_settings(), router) as fresh:
        retried = [
            await fresh.post("/api/jobs/etl/run", json={}, headers={"Idempotency-Key": key})
            for key in (u["idempotencyKey"] for u in unknown)
        ]
    answered = [a.json()["runId"] for a in answers if a.status_code == 200]
    run_ids = answered + [r.json()["runId"] for r in retried]
    assert sorted(run_ids) == sorted(workspace.runs.values())  # one run per trigger, no more
    assert len(workspace.runs) == 4


DEFINITE_FAILURES = {
    "never connected": ([httpx.ConnectError("refused")] * 3, 502, "UPSTREAM_UNAVAILABLE"),
    "connect timeout": ([httpx.ConnectTimeout("slow")] * 3, 504, "UPSTREAM_TIMEOUT"),
    "pool timeout": ([httpx.PoolTimeout("busy")] * 3, 504, "UPSTREAM_TIMEOUT"),
    "400": (
        [httpx.Response(400, json={"error_code": "INVALID_PARAMETER_VALUE", "message": "bad"})],
        400,
        "UPSTREAM_REJECTED",
    ),
    "403": ([httpx.Response(403, json={"error_code": "PERMISSION_DENIED"})], 502, "UPSTREAM_AUTH"),
    "429 after retries": (
        [httpx.Response(429, json={}, headers={"Retry-After": "1"})] * 3,
        503,
        "UPSTREAM_THROTTLED",
    ),
}


@pytest.mark.parametrize(
    ("failures", "status", "code"), DEFINITE_FAILURES.values(), ids=DEFINITE_FAILURES.keys()
)
async def test_a_run_now_that_surely_failed_is_not_an_unknown_outcome(failures, status, code):
    workspace = Workspace(*failures, before=True)
    async with make_client(make_settings(), workspace_router(workspace)) as client:
        response = await client.post("/api/jobs/etl/run", json={})
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert "idempotencyKey" not in response.json()
    assert workspace.runs == {}


# Same key, other parameters.

PARAMS_TOML = """
[jobs.etl]
job_id = 101
task_type = "notebook"
[jobs.etl.params]
run_date = "str"
env = { type = "str", enum = ["dev", "prod"], default = "dev" }
[jobs.other]
job_id = 103
run_as = "user"
"""


def params_settings(tmp_path, **overrides: Any):
    return make_settings(PARAMS_TOML, tmp_path=tmp_path, **overrides)


def run(client, params, key=KEYED, job="etl", **headers):
    return client.post(
        f"/api/jobs/{job}/run", json={"params": params}, headers={"Idempotency-Key": key, **headers}
    )


async def test_same_key_with_other_parameters_is_422_and_starts_nothing(tmp_path):
    workspace = Workspace()
    async with make_client(params_settings(tmp_path), workspace_router(workspace)) as client:
        first = await run(client, {"run_date": "2026-11-29"})
        reused = await run(client, {"run_date": "2026-11-30"})
    assert first.status_code == 200
    assert reused.status_code == 422
    assert reused.json() == {
        "error": "This Idempotency-Key was already used with other parameters; use a new key",
        "code": "IDEMPOTENCY_KEY_REUSED",
        "plugin": "jobs",
    }
    assert [c["notebook_params"]["run_date"] for c in workspace.calls] == ["2026-11-29"]


async def test_same_key_and_parameters_return_the_same_run(tmp_path):
    workspace = Workspace()
    async with make_client(params_settings(tmp_path), workspace_router(workspace)) as client:
        answers = [await run(client, {"run_date": "2026-11-29"}) for _ in range(3)]
    assert [a.json() for a in answers] == [answers[0].json()] * 3
    assert len(workspace.runs) == 1


async def test_a_key_in_flight_is_bound_to_its_parameters(tmp_path):
    workspace = Workspace("hang")
    async with make_client(params_settings(tmp_path), workspace_router(workspace)) as client:
        first = asyncio.create_task(run(client, {"run_date": "2026-11-29"}))
        while not workspace.calls:
            await asyncio.sleep(0)
        reused = await run(client, {"run_date": "2026-11-30"})
        first.cancel()
    assert reused.status_code == 422
    assert len(workspace.calls) == 1


async def test_after_an_unknown_outcome_the_key_keeps_its_parameters(tmp_path):
    workspace = Workspace(*[httpx.ReadTimeout("slow")] * 3)
    async with make_client(params_settings(tmp_path), workspace_router(workspace)) as client:
        lost_answer = await run(client, {"run_date": "2026-11-29"})
        other = await run(client, {"run_date": "2026-11-30"})
        same = await run(client, {"run_date": "2026-11-29"})
    assert lost_answer.json()["code"] == "OUTCOME_UNKNOWN"
    assert other.status_code == 422
    assert same.json() == {"runId": next(iter(workspace.runs.values()))}
    assert len(workspace.runs) == 1


async def test_a_generated_key_handed_out_keeps_its_parameters(tmp_path):
    workspace = Workspace(*[httpx.ReadTimeout("slow")] * 3)
    async with make_client(params_settings(tmp_path), workspace_router(workspace)) as client:
        lost_answer = await client.post("/api/jobs/etl/run", json={"params": {"run_date": "a"}})
        key = lost_answer.json()["idempotencyKey"]
        other = await run(client, {"run_date": "b"}, key=key)
        same = await run(client, {"run_date": "a"}, key=key)
    assert other.status_code == 422
    assert same.json() == {"runId": next(iter(workspace.runs.values()))}
    assert len(workspace.runs) == 1


async def test_triggers_without_a_key_do_not_crowd_out_clients_keys(tmp_path):
    workspace = Workspace()
    settings = params_settings(tmp_path, idempotency_max_keys=1)
    async with make_client(settings, workspace_router(workspace)) as client:
        await run(client, {"run_date": "2026-11-29"})
        for day in range(5):
            await client.post("/api/jobs/etl/run", json={"params": {"run_date": f"d{day}"}})
        reused = await run(client, {"run_date": "2026-11-30"})
    assert reused.status_code == 422


async def test_a_key_is_scoped_by_job_and_by_user(tmp_path):
    workspace = Workspace()
    settings = make_settings(PARAMS_TOML, environ=APPS_ENV, tmp_path=tmp_path)
    carol = proxied("carol@x.com")
    async with make_client(settings, workspace_router(workspace)) as client:
        etl = await run(client, {"run_date": "2026-11-29"}, **carol)
        other = [
            await run(client, {}, job="other", **carol, **{"X-Forwarded-Access-Token": user})
            for user in ("alice-token", "bob-token")
        ]
    assert etl.status_code == 200
    assert [o.status_code for o in other] == [200, 200]
    assert len(workspace.runs) == 3


async def test_a_key_is_bound_for_its_ttl_then_free(tmp_path):
    workspace = Workspace()
    settings = params_settings(tmp_path)
    async with make_client(settings, workspace_router(workspace)) as client:
        await run(client, {"run_date": "2026-11-29"})
        await advance(settings.idempotency_ttl_ms / 1000 - 1)
        within = await run(client, {"run_date": "2026-11-30"})
        await advance(2)
        after = await run(client, {"run_date": "2026-11-30"})
    assert within.status_code == 422
    assert after.status_code == 200
    assert len(workspace.runs) == 2  # a key past its day is a new key: other parameters, new run


async def test_the_digest_covers_the_mapped_fields_not_the_spelling(tmp_path):
    """Parameters that map to the same run-now fields are the same use of the key."""
    workspace = Workspace()
    async with make_client(params_settings(tmp_path), workspace_router(workspace)) as client:
        first = await run(client, {"run_date": "2026-11-29"})
        spelled_again = await run(client, {"run_date": "2026-11-29", "env": "dev"})
    assert spelled_again.status_code == first.status_code == 200
    assert len(workspace.runs) == 1


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


RUN_NOW_FAILURES = [
    httpx.Response(503, json={"error_code": "TEMPORARILY_UNAVAILABLE", "message": "x"}),
    httpx.Response(
        429, json={"error_code": "REQUEST_LIMIT_EXCEEDED"}, headers={"Retry-After": "1"}
    ),
    httpx.ReadError("connection dropped after the request was sent"),
]


def tokens(route):
    return [json.loads(c.request.content)["idempotency_token"] for c in route.calls]


@pytest.mark.parametrize("failure", RUN_NOW_FAILURES, ids=["503", "429", "dropped"])
async def test_run_now_lost_response_is_retried_with_the_same_token(client, upstream, failure):
    route = upstream.post("/run-now").mock(
        side_effect=[failure, httpx.Response(200, json={"run_id": 42})]
    )
    response = await client.post("/api/jobs/etl/run", json={})
    assert response.json() == {"runId": 42}
    assert len(set(tokens(route))) == 1
    assert route.call_count == 2


async def test_same_idempotency_key_returns_the_same_run_without_a_second_run_now(client, upstream):
    route = upstream.post("/run-now").respond(json={"run_id": 42})
    answers = [
        await client.post("/api/jobs/etl/run", json={}, headers={"Idempotency-Key": "order-1"})
        for _ in range(2)
    ]
    assert [a.json() for a in answers] == [{"runId": 42}] * 2
    assert route.call_count == 1


async def test_without_a_key_each_trigger_gets_its_own_token(client, upstream):
    route = upstream.post("/run-now").respond(json={"run_id": 42})
    await client.post("/api/jobs/etl/run", json={})
    await client.post("/api/jobs/etl/run", json={})
    assert len(set(tokens(route))) == 2


async def test_invalid_idempotency_key_is_400(client, upstream):
    route = upstream.post("/run-now")
    response = await client.post("/api/jobs/etl/run", json={}, headers={"Idempotency-Key": "a b"})
    assert response.status_code == 400
    assert not route.called


async def test_run_now_400_is_not_retried(client, upstream):
    route = upstream.post("/run-now").respond(
        400, json={"error_code": "INVALID_PARAMETER_VALUE", "message": "Job 101 does not exist."}
    )
    response = await client.post("/api/jobs/etl/run", json={})
    assert response.status_code == 404
    assert route.call_count == 1


def token_settings(tmp_path):
    keys = {"SIDECAR_API_KEYS": "frontend:frontend-secret-0123,batch:batch-secret-0123456"}
    environ = {"DATABRICKS_HOST": HOST, "DATABRICKS_TOKEN": TOKEN, "ACCESS_MODE": "token", **keys}
    return make_settings(PARAMS_TOML, environ=environ, tmp_path=tmp_path)


def as_key(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def test_two_callers_with_one_key_get_a_run_each_and_never_a_422(tmp_path):
    workspace = Workspace()
    async with make_client(token_settings(tmp_path), workspace_router(workspace)) as client:
        frontend = await run(client, {"run_date": "2026-11-29"}, **as_key("frontend-secret-0123"))
        batch = await run(client, {"run_date": "2026-11-30"}, **as_key("batch-secret-0123456"))
    assert (frontend.status_code, batch.status_code) == (200, 200)
    assert frontend.json() != batch.json()
    assert len(set(workspace.tokens)) == 2


async def test_one_caller_sending_its_key_twice_gets_one_run(tmp_path):
    workspace = Workspace()
    async with make_client(token_settings(tmp_path), workspace_router(workspace)) as client:
        answers = [
            await run(client, {"run_date": "2026-11-29"}, **as_key("frontend-secret-0123"))
            for _ in range(2)
        ]
        same_params_other_caller = await run(
            client, {"run_date": "2026-11-29"}, **as_key("batch-secret-0123456")
        )
    assert answers[0].json() == answers[1].json()
    assert same_params_other_caller.json() != answers[0].json()
    assert len(workspace.runs) == 2


async def test_the_python_api_s_keys_are_its_own_not_an_http_caller_s(tmp_path):
    workspace = Workspace()
    settings = params_settings(tmp_path)
    async with make_client(settings, workspace_router(workspace)) as client:
        over_http = await run(client, {"run_date": "2026-11-29"})  # open mode: anonymous
    async with Jobs.open(settings, transport=transport(workspace_router(workspace))) as jobs:
        in_python = await jobs("etl").run_now({"run_date": "2026-11-29"}, idempotency_key=KEYED)
        again = await jobs("etl").run_now({"run_date": "2026-11-29"}, idempotency_key=KEYED)
    assert in_python.data is not None
    assert again.data is not None
    assert in_python.data["run_id"] != over_http.json()["runId"]
    assert again.data == in_python.data
    assert len(workspace.runs) == 2
