"""Safe writes and fresh reads: one run per trigger under retries, no stale status after writes."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from tests.factories import (
    JOB_IDS,
    advance,
    m2m_settings,
    make_client,
    make_run,
    sse_events,
    upstream_router,
)

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


async def test_trigger_then_status_shows_the_new_run(client, upstream):
    listing = upstream.get("/runs/list").mock(
        side_effect=[
            httpx.Response(200, json={"runs": [make_run(1, state="TERMINATED")]}),
            httpx.Response(200, json={"runs": [make_run(2, state="PENDING")]}),
        ]
    )
    upstream.post("/run-now").respond(json={"run_id": 2})
    assert (await client.get("/api/jobs/etl/status")).json()["run"]["run_id"] == 1
    await client.post("/api/jobs/etl/run", json={})
    assert (await client.get("/api/jobs/etl/status")).json()["run"]["run_id"] == 2
    assert listing.call_count == 2


async def test_cancel_then_get_shows_the_cancel(client, upstream):
    upstream.get("/runs/get").mock(
        side_effect=[
            httpx.Response(200, json=make_run(5, state="RUNNING")),
            httpx.Response(200, json=make_run(5, state="TERMINATING")),
        ]
    )
    upstream.post("/runs/cancel").respond(json={})
    assert (await client.get("/api/jobs/etl/runs/5")).json()["state"][
        "life_cycle_state"
    ] == "RUNNING"
    assert (await client.delete("/api/jobs/etl/runs/5")).status_code == 204
    after = (await client.get("/api/jobs/etl/runs/5")).json()
    assert after["state"]["life_cycle_state"] == "TERMINATING"


async def test_cancel_of_a_finished_run_is_a_harmless_204(client, upstream):
    upstream.get("/runs/get").respond(json=make_run(5, state="TERMINATED", result="SUCCESS"))
    upstream.post("/runs/cancel").respond(json={})
    assert (await client.delete("/api/jobs/etl/runs/5")).status_code == 204


async def test_cancel_is_retried_like_a_read(client, upstream):
    upstream.get("/runs/get").respond(json=make_run(5))
    cancel = upstream.post("/runs/cancel").mock(
        side_effect=[httpx.Response(503, json={}), httpx.Response(200, json={})]
    )
    assert (await client.delete("/api/jobs/etl/runs/5")).status_code == 204
    assert cancel.call_count == 2


async def test_a_terminal_run_is_read_once_within_the_ttl(client, upstream):
    route = upstream.get("/runs/get").respond(json=make_run(5, state="TERMINATED"))
    for _ in range(5):
        await client.get("/api/jobs/etl/runs/5")
        await advance(10)
    assert route.call_count == 1


async def test_an_active_run_is_read_at_most_once_per_poll_interval(client, upstream, settings):
    route = upstream.get("/runs/get").respond(json=make_run(5, state="RUNNING"))
    interval = settings.poll_interval_ms / 1000
    for _ in range(12):
        await client.get("/api/jobs/etl/runs/5")
        await advance(interval / 4)
    assert route.call_count == 3


async def test_status_is_never_older_than_the_poll_interval(client, upstream, settings):
    route = upstream.get("/runs/list").respond(json={"runs": [make_run(5)]})
    await client.get("/api/jobs/etl/status")
    await advance(settings.poll_interval_ms / 1000 + 0.01)
    await client.get("/api/jobs/etl/status")
    assert route.call_count == 2


async def test_a_failed_read_is_not_cached(client, upstream):
    route = upstream.get("/runs/get").mock(
        side_effect=[httpx.Response(404, json={}), httpx.Response(200, json=make_run(5))]
    )
    assert (await client.get("/api/jobs/etl/runs/5")).status_code == 404
    assert (await client.get("/api/jobs/etl/runs/5")).status_code == 200
    assert route.call_count == 2


async def test_limit_60_takes_three_upstream_pages(client, upstream):
    runs = [make_run(1000 - i) for i in range(80)]

    def page(request):
        offset = int(request.url.params.get("page_token") or 0)
        limit = int(request.url.params["limit"])
        assert limit <= 25
        body = {
            "runs": runs[offset : offset + limit],
            "has_more": True,
            "next_page_token": str(offset + limit),
        }
        return httpx.Response(200, json=body)

    route = upstream.get("/runs/list").mock(side_effect=page)
    response = await client.get("/api/jobs/etl/runs?limit=60")
    assert [r["run_id"] for r in response.json()["runs"]] == [r["run_id"] for r in runs[:60]]
    assert route.call_count == 3


async def test_one_short_page_ends_the_listing(client, upstream):
    route = upstream.get("/runs/list").respond(json={"runs": [make_run(1)]})
    await client.get("/api/jobs/etl/runs?limit=100")
    assert route.call_count == 1


async def test_an_outage_stays_within_the_retry_budget(client, upstream):
    route = upstream.get("/runs/get").respond(503, json={})
    responses = await asyncio.gather(
        *(client.get(f"/api/jobs/etl/runs/{i}") for i in range(1, 201))
    )
    assert {r.status_code for r in responses} == {502}
    # Without a budget: 600 calls. With it, retries stay near 20% of the calls.
    assert route.call_count <= 200 * 1.25 + 30


async def test_429_after_retries_is_503_with_retry_after(client, upstream):
    route = upstream.get("/runs/list").respond(
        429, json={"error_code": "REQUEST_LIMIT_EXCEEDED"}, headers={"Retry-After": "3"}
    )
    response = await client.get("/api/jobs/etl/status")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "3"
    assert route.call_count == 3


async def test_upstream_timeout_is_504(client, upstream):
    upstream.get("/runs/list").mock(side_effect=httpx.ReadTimeout("slow"))
    response = await client.get("/api/jobs/etl/status")
    assert response.status_code == 504


async def test_output_of_a_single_task_run_is_that_tasks_output(client, upstream):
    upstream.get("/runs/get").respond(json=make_run(5, tasks=[{"task_key": "only", "run_id": 900}]))
    output = upstream.get("/runs/get-output", params={"run_id": "900"}).respond(
        json={"notebook_output": {"result": "42"}}
    )
    response = await client.get("/api/jobs/etl/runs/5/output")
    assert response.json() == {"notebook_output": {"result": "42"}}
    assert output.called


async def test_output_of_another_jobs_run_is_404(client, upstream):
    upstream.get("/runs/get").respond(json=make_run(5, job_id=JOB_IDS["other"]))
    output = upstream.get("/runs/get-output")
    assert (await client.get("/api/jobs/etl/runs/5/output")).status_code == 404
    assert not output.called


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
