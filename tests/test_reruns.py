"""POST /api/jobs/{key}/runs/{runId}/rerun: a new run with exactly the parameters the run had,
read back from Databricks, started as a trigger is (once per key and parameters)."""

from __future__ import annotations

import json

from tests.factories import JOB_IDS, make_run

RERUN = "/api/jobs/etl/runs/5/rerun"
PARAMETERS = [
    {"name": "env", "default": "dev", "value": "prod"},
    {"name": "run_date", "default": "", "value": "2026-01-01"},
    {"name": "dry_run", "default": "false"},  # no value: the run used its default
]
LEGACY = {"notebook_params": {"table": "sales"}, "python_params": ["--all"], "unknown": 1}


def old_run(**extra):
    return make_run(5, state="TERMINATED", result="FAILED", **extra)


async def test_a_rerun_starts_a_run_with_the_parameters_the_run_had(client, upstream):
    upstream.get("/runs/get").respond(
        json=old_run(job_parameters=PARAMETERS, overriding_parameters=LEGACY)
    )
    run_now = upstream.post("/run-now").respond(json={"run_id": 9})
    response = await client.post(RERUN)
    sent = json.loads(run_now.calls.last.request.content)
    assert response.status_code == 200
    assert response.json() == {"runId": 9, "watchUrl": "/api/jobs/etl/runs/9/events"}
    assert sent["job_parameters"] == {"env": "prod", "run_date": "2026-01-01", "dry_run": "false"}
    assert sent["notebook_params"] == {"table": "sales"}
    assert sent["python_params"] == ["--all"]
    assert "unknown" not in sent
    assert sent["idempotency_token"].startswith("sidecar-")


async def test_a_run_without_parameters_runs_again_without_any(client, upstream):
    upstream.get("/runs/get").respond(json=old_run())
    run_now = upstream.post("/run-now").respond(json={"run_id": 9})
    await client.post(RERUN)
    assert set(json.loads(run_now.calls.last.request.content)) == {"job_id", "idempotency_token"}


async def test_the_same_key_again_is_the_same_new_run(client, upstream):
    upstream.get("/runs/get").respond(json=old_run(job_parameters=PARAMETERS))
    run_now = upstream.post("/run-now").respond(json={"run_id": 9})
    headers = {"Idempotency-Key": "again-1"}
    first = await client.post(RERUN, headers=headers)
    second = await client.post(RERUN, headers=headers)
    assert first.json() == second.json()
    assert run_now.call_count == 1


async def test_the_same_key_for_a_run_with_other_parameters_is_422(client, upstream):
    upstream.get("/runs/get", params={"run_id": "5"}).respond(json=old_run())
    upstream.get("/runs/get", params={"run_id": "6"}).respond(
        json=make_run(6, state="TERMINATED", job_parameters=PARAMETERS)
    )
    upstream.post("/run-now").respond(json={"run_id": 9})
    headers = {"Idempotency-Key": "again-1"}
    await client.post(RERUN, headers=headers)
    other = await client.post("/api/jobs/etl/runs/6/rerun", headers=headers)
    assert (other.status_code, other.json()["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")


async def test_another_jobs_run_is_the_missing_run_404(client, upstream):
    upstream.get("/runs/get").respond(json=old_run(job_id=JOB_IDS["report"]))
    run_now = upstream.post("/run-now")
    response = await client.post(RERUN)
    assert (response.status_code, response.json()["code"]) == (404, "RUN_NOT_FOUND")
    assert not run_now.called


async def test_a_rerun_with_stream_true_streams_the_new_run_to_its_end(client, upstream):
    upstream.get("/runs/get", params={"run_id": "5"}).respond(json=old_run())
    upstream.get("/runs/get", params={"run_id": "9"}).respond(
        json=make_run(9, state="TERMINATED", result="SUCCESS")
    )
    upstream.post("/run-now").respond(json={"run_id": 9})
    response = await client.post(f"{RERUN}?stream=true")
    lines = response.text.splitlines()
    assert response.headers["content-type"].startswith("text/event-stream")
    assert "event: run" in lines
    first = json.loads(next(line for line in lines if line.startswith("data: "))[6:])
    assert first == {"runId": 9, "watchUrl": "/api/jobs/etl/runs/9/events"}
    assert '"result":"SUCCESS"' in response.text
