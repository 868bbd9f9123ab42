"""JobOperations through the routes: runs scoped to their job, reads cached by what they
hold and dropped after a write, listings paged, outputs by task."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.factories import (
    JOB_IDS,
    advance,
    make_run,
)


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


async def test_cancel_all_cancels_the_jobs_runs_and_its_reads_are_fresh_after(client, upstream):
    listing = upstream.get("/runs/list").mock(
        side_effect=[
            httpx.Response(200, json={"runs": [make_run(1, state="RUNNING")]}),
            httpx.Response(200, json={"runs": [make_run(1, state="TERMINATING")]}),
        ]
    )
    cancel_all = upstream.post("/runs/cancel-all").respond(json={})
    before = (await client.get("/api/jobs/etl/runs")).json()["runs"][0]
    response = await client.delete("/api/jobs/etl/runs")
    after = (await client.get("/api/jobs/etl/runs")).json()["runs"][0]
    assert response.status_code == 204
    assert response.content == b""
    assert json.loads(cancel_all.calls.last.request.content) == {"job_id": JOB_IDS["etl"]}
    assert (before["state"]["life_cycle_state"], after["state"]["life_cycle_state"]) == (
        "RUNNING",
        "TERMINATING",
    )
    assert listing.call_count == 2


async def test_cancel_all_is_retried_like_a_cancel(client, upstream):
    cancel_all = upstream.post("/runs/cancel-all").mock(
        side_effect=[httpx.Response(503, json={}), httpx.Response(200, json={})]
    )
    assert (await client.delete("/api/jobs/etl/runs")).status_code == 204
    assert cancel_all.call_count == 2


# Databricks' answer for a job id it does not know (jobs/get and run-now alike).
NO_SUCH_JOB = {"error_code": "INVALID_PARAMETER_VALUE", "message": "Job 101 does not exist."}


@pytest.mark.parametrize(
    ("method", "path", "verb", "route"),
    [
        ("POST", "/api/jobs/etl/run", "POST", "/run-now"),
        ("POST", "/api/jobs/etl/run?stream=true", "POST", "/run-now"),
        ("GET", "/api/jobs/etl", "GET", "/get"),
        ("GET", "/api/jobs/etl/runs", "GET", "/runs/list"),
        ("GET", "/api/jobs/etl/status", "GET", "/runs/list"),
    ],
)
async def test_a_job_id_databricks_does_not_know_is_404_job_not_found_naming_key_and_id(
    client, upstream, method, path, verb, route
):
    upstream.route(method=verb, path__regex=f"{route}$").respond(400, json=NO_SUCH_JOB)
    response = await client.request(method, path, json={} if method == "POST" else None)
    assert response.status_code == 404
    assert response.json() == {
        "error": f"Databricks has no job {JOB_IDS['etl']} (configured as etl)",
        "code": "JOB_NOT_FOUND",
        "plugin": "jobs",
    }


@pytest.mark.parametrize("path", ["/api/jobs/etl/runs/5", "/api/jobs/etl/runs/5/output"])
async def test_a_run_databricks_does_not_know_stays_run_not_found(client, upstream, path):
    gone = {"error_code": "INVALID_PARAMETER_VALUE", "message": "Run 5 does not exist."}
    upstream.get("/runs/get").respond(400, json=gone)
    response = await client.get(path)
    assert (response.status_code, response.json()["code"]) == (404, "RUN_NOT_FOUND")
    assert response.json()["error"] == "Run 5 not found"


async def test_a_run_gone_between_its_read_and_its_cancel_is_run_not_found(client, upstream):
    upstream.get("/runs/get").respond(json=make_run(5, state="RUNNING"))
    gone = {"error_code": "INVALID_PARAMETER_VALUE", "message": "Run 5 does not exist."}
    upstream.post("/runs/cancel").respond(400, json=gone)
    response = await client.delete("/api/jobs/etl/runs/5")
    assert (response.status_code, response.json()["code"]) == (404, "RUN_NOT_FOUND")
