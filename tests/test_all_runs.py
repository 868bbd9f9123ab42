"""GET /api/runs: the runs of every job the caller may view, newest first, each with its job's
key and result; one upstream page per job, cached and made fresh like the job's own list."""

from __future__ import annotations

import httpx
import pytest

from tests.factories import HOST, JOB_IDS, TOKEN, make_client, make_run, make_settings

T0 = 1_795_820_400_000


def run(run_id, job, *, start, end=0, state="TERMINATED"):
    result = "SUCCESS" if state == "TERMINATED" else None
    return make_run(
        run_id,
        job_id=JOB_IDS[job],
        state=state,
        result=result,
        start_time=T0 + start,
        end_time=end and T0 + end,
    )


def listing(upstream, job, *runs):
    return upstream.get("/runs/list", params={"job_id": str(JOB_IDS[job])}).respond(
        json={"runs": list(runs), "has_more": False}
    )


async def test_runs_of_every_job_come_newest_first_with_their_job_key(client, upstream):
    listing(
        upstream, "etl", run(1, "etl", start=50, state="RUNNING"), run(2, "etl", start=0, end=40)
    )
    listing(upstream, "report", run(3, "report", start=10, end=45))
    listing(upstream, "other")
    response = await client.get("/api/runs")
    runs = response.json()["runs"]
    assert response.status_code == 200
    assert [(r["run_id"], r["jobKey"], r["result"]) for r in runs] == [
        (1, "etl", None),
        (3, "report", "SUCCESS"),
        (2, "etl", "SUCCESS"),
    ]


async def test_each_job_is_asked_one_page_of_at_most_25(client, upstream):
    routes = [listing(upstream, job) for job in JOB_IDS]
    await client.get("/api/runs?limit=100")
    await client.get("/api/runs?limit=3")
    pages = [call.request.url.params for route in routes for call in route.calls]
    assert sorted(p["limit"] for p in pages) == ["25", "25", "25", "3", "3", "3"]


async def test_active_asks_only_for_runs_not_ended(client, upstream):
    routes = [listing(upstream, job) for job in JOB_IDS]
    assert (await client.get("/api/runs?active=true")).status_code == 200
    assert all(route.calls.last.request.url.params["active_only"] == "true" for route in routes)


async def test_limit_cuts_the_merged_runs(client, upstream):
    listing(upstream, "etl", *(run(i, "etl", start=i, end=i + 1) for i in range(1, 6)))
    listing(upstream, "report", *(run(i, "report", start=i, end=i + 1) for i in range(6, 9)))
    listing(upstream, "other")
    runs = (await client.get("/api/runs?limit=4")).json()["runs"]
    assert [r["run_id"] for r in runs] == [8, 7, 6, 5]


async def test_reads_are_cached_and_fresh_after_a_write_to_one_of_the_jobs(client, upstream):
    routes = {job: listing(upstream, job) for job in JOB_IDS}
    upstream.post("/run-now").respond(json={"run_id": 9})
    await client.get("/api/runs")
    await client.get("/api/runs")
    await client.post("/api/jobs/etl/run", json={})
    await client.get("/api/runs")
    assert {job: route.call_count for job, route in routes.items()} == {
        "etl": 2,
        "report": 1,
        "other": 1,
    }


async def test_a_run_listed_under_another_job_never_leaks(client, upstream):
    listing(upstream, "etl", run(1, "report", start=1))
    listing(upstream, "report")
    listing(upstream, "other")
    assert (await client.get("/api/runs")).json()["runs"] == []


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=x", "active=maybe"])
async def test_bad_bounds_are_400(client, upstream, query):
    response = await client.get(f"/api/runs?{query}")
    assert (response.status_code, response.json()["code"]) == (400, "BAD_REQUEST")


TOKEN_MODE = """
[access]
mode = "token"
[jobs.etl]
job_id = 101
[jobs.etl.access]
view = ["alice"]
[jobs.report]
job_id = 102
"""


async def test_only_the_jobs_the_caller_may_view_are_asked(tmp_path, upstream):
    environ = {
        "DATABRICKS_HOST": HOST,
        "DATABRICKS_TOKEN": TOKEN,
        "HOST": "127.0.0.1",
        "SIDECAR_API_KEYS": "alice:a-secret-key-0000001,bob:b-secret-key-0000002",
    }
    settings = make_settings(TOKEN_MODE, environ=environ, tmp_path=tmp_path)
    etl = listing(upstream, "etl", run(1, "etl", start=1))
    listing(upstream, "report", run(2, "report", start=2))
    async with make_client(settings, upstream) as client:
        bob = await client.get(
            "/api/runs", headers={"Authorization": "Bearer b-secret-key-0000002"}
        )
        alice = await client.get(
            "/api/runs", headers={"Authorization": "Bearer a-secret-key-0000001"}
        )
        nobody = await client.get("/api/runs")
    assert [r["jobKey"] for r in bob.json()["runs"]] == ["report"]
    assert [r["jobKey"] for r in alice.json()["runs"]] == ["report", "etl"]
    assert nobody.status_code == 401
    assert etl.call_count == 1


async def test_an_upstream_failure_is_the_answer(client, upstream):
    listing(upstream, "etl")
    listing(upstream, "report")
    upstream.get("/runs/list", params={"job_id": str(JOB_IDS["other"])}).mock(
        side_effect=httpx.ConnectError("down")
    )
    response = await client.get("/api/runs")
    assert (response.status_code, response.json()["code"]) == (502, "UPSTREAM_UNAVAILABLE")
