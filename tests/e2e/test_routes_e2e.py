"""Every route end to end: the service and the emulator, both on real Hypercorn, httpx as client.

The emulator plays its scenario 40x faster than written and the service polls every 50 ms, so a
whole run (pending, running, terminating) takes about a third of a second.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from service.app import create_app
from tests.e2e.servers import Stack, running, stack
from tests.factories import make_run, make_settings, sse_events, transport, upstream_router

pytestmark = pytest.mark.looptime(False)


def statuses(text: str) -> list[str]:
    return [
        json.loads(e["data"])["status"] for e in sse_events(text) if e.get("event") == "message"
    ]


async def wait_terminal(s: Stack, job: str, run_id: int) -> dict[str, Any]:
    response = await s.api.get(f"/api/jobs/{job}/runs/{run_id}/events")
    return json.loads(sse_events(response.text)[-1]["data"])["run"]  # type: ignore[no-any-return]


async def test_every_route_end_to_end():
    async with stack() as s:
        jobs = (await s.api.get("/api/jobs")).json()["jobs"]
        assert {j["key"] for j in jobs} >= {"etl", "pipeline", "flaky", "dbt"}
        assert (await s.api.get("/api/jobs/etl")).json()["job_id"] == 1001
        started = await s.api.post("/api/jobs/etl/run", json={"params": {"run_date": "2026-11-29"}})
        run_id = started.json()["runId"]
        status = (await s.api.get("/api/jobs/etl/status")).json()
        assert status["run"]["run_id"] == run_id
        assert (await s.api.get(f"/api/jobs/etl/runs/{run_id}")).json()["job_id"] == 1001
        final = await wait_terminal(s, "etl", run_id)
        assert final["state"]["result_state"] == "SUCCESS"
        assert {"name": "run_date", "default": "", "value": "2026-11-29"} in final["job_parameters"]
        runs = (await s.api.get("/api/jobs/etl/runs?limit=5")).json()["runs"]
        assert runs[0]["run_id"] == run_id
        output = (await s.api.get(f"/api/jobs/etl/runs/{run_id}/output")).json()
        assert output["notebook_output"]["result"] == '{"rows_written": 120443}'
        assert (await s.api.delete(f"/api/jobs/etl/runs/{run_id}")).status_code == 204
        assert (await s.api.get(f"/api/jobs/pipeline/runs/{run_id}")).status_code == 404


async def test_run_stream_to_its_terminal_event():
    async with stack() as s:
        response = await s.api.post(
            "/api/jobs/etl/run?stream=true", json={"params": {"run_date": "2026-11-29"}}
        )
    seen = statuses(response.text)
    assert seen[0] in {"QUEUED", "PENDING"}
    assert seen[-1] == "TERMINATED"
    assert len(seen) == len(set(seen))  # one event per change, not per poll


async def test_multi_task_run_and_its_outputs():
    async with stack() as s:
        run_id = (await s.api.post("/api/jobs/pipeline/run", json={})).json()["runId"]
        final = await wait_terminal(s, "pipeline", run_id)
        assert [t["state"]["result_state"] for t in final["tasks"]] == ["SUCCESS"] * 3
        output = (await s.api.get(f"/api/jobs/pipeline/runs/{run_id}/output")).json()
    assert [t["task_key"] for t in output["tasks"]] == [t["task_key"] for t in final["tasks"]]


async def test_failing_multi_task_run_ends_internal_error():
    async with stack() as s:
        response = await s.api.post("/api/jobs/flaky/run?stream=true", json={})
    last = json.loads(sse_events(response.text)[-1]["data"])
    assert last["status"] == "INTERNAL_ERROR"
    assert last["run"]["state"]["result_state"] == "FAILED"


async def test_cancel_mid_run():
    async with stack() as s:
        run_id = (await s.api.post("/api/jobs/flaky/run", json={})).json()["runId"]
        async with s.api.stream("GET", f"/api/jobs/flaky/runs/{run_id}/events") as events:
            async for line in events.aiter_lines():
                if '"status":"RUNNING"' in line:
                    break  # the run is under way: cancel it mid-run
        assert (await s.api.delete(f"/api/jobs/flaky/runs/{run_id}")).status_code == 204
        final = await wait_terminal(s, "flaky", run_id)
    assert final["state"]["life_cycle_state"] == "TERMINATED"
    assert final["state"]["result_state"] == "CANCELED"


async def test_routes_answer_over_real_sockets():
    router = upstream_router()
    router.post("/run-now").respond(json={"run_id": 77})
    router.get("/runs/list").respond(json={"runs": [make_run(77, state="PENDING")]})
    app = create_app(make_settings(), upstream=transport(router))
    async with running(app) as url, httpx.AsyncClient(base_url=url) as client:
        assert (await client.get("/livez")).status_code == 200
        assert (await client.post("/api/jobs/etl/run", json={})).json() == {"runId": 77}
        status = await client.get("/api/jobs/etl/status")
    assert status.json()["status"] == "PENDING"
    assert status.headers["x-request-id"]


async def test_a_job_id_the_workspace_does_not_know_is_404_job_not_found(tmp_path):
    """A config naming job 424242, which the emulator's workspace does not have."""
    ghost = make_settings("[jobs.ghost]\njob_id = 424242\n", tmp_path=tmp_path).jobs["ghost"]
    async with stack(jobs={"ghost": ghost}) as s:
        triggered = await s.api.post("/api/jobs/ghost/run", json={})
        described = await s.api.get("/api/jobs/ghost")
        a_run = await s.api.get("/api/jobs/ghost/runs/5")
    for answer in (triggered, described):
        assert answer.status_code == 404
        assert answer.json() == {
            "error": "Databricks has no job 424242 (configured as ghost)",
            "code": "JOB_NOT_FOUND",
            "plugin": "jobs",
        }
    assert (a_run.status_code, a_run.json()["code"]) == (404, "RUN_NOT_FOUND")
