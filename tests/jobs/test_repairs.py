"""Repairs through POST /api/jobs/{key}/runs/{runId}/repair: the latest repair found by the
service, one repair per Idempotency-Key, lost answers resolved from the run's history."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.factories import JOB_IDS, log_lines, make_client, make_run, make_task

RUN = 555
REPAIR = f"/api/jobs/etl/runs/{RUN}/repair"
FAILED_TASKS = [
    make_task("extract", 1),
    make_task("load", 2, result="FAILED"),
    make_task("notify", 3, state="SKIPPED", result="UPSTREAM_FAILED"),
]


def failed_run(*repairs: int, **extra: Any) -> dict[str, Any]:
    history = [{"type": "ORIGINAL"}, *({"type": "REPAIR", "id": r} for r in repairs)]
    return make_run(
        RUN,
        state="INTERNAL_ERROR",
        result="FAILED",
        tasks=FAILED_TASKS,
        repair_history=history,
        **extra,
    )


def sent(route: Any, index: int = -1) -> dict[str, Any]:
    return json.loads(route.calls[index].request.content)  # type: ignore[no-any-return]


async def test_an_empty_body_repairs_every_failed_task_of_a_run_never_repaired(client, upstream):
    read = upstream.get("/runs/get", params={"include_history": "true"}).respond(json=failed_run())
    repair = upstream.post("/runs/repair").respond(json={"repair_id": 77})
    response = await client.post(REPAIR, json={})
    assert response.status_code == 200
    assert response.json() == {
        "runId": RUN,
        "repairId": 77,
        "watchUrl": f"/api/jobs/etl/runs/{RUN}/events",
    }
    assert sent(repair) == {"run_id": RUN, "rerun_all_failed_tasks": True}
    assert read.called


async def test_a_later_repair_names_the_latest_repair_the_service_found(client, upstream):
    upstream.get("/runs/get").respond(json=failed_run(70, 71))
    repair = upstream.post("/runs/repair").respond(json={"repair_id": 72})
    response = await client.post(REPAIR, json={"tasks": ["load"], "rerunDependents": True})
    assert response.json()["repairId"] == 72
    assert sent(repair) == {
        "run_id": RUN,
        "rerun_tasks": ["load"],
        "rerun_dependent_tasks": True,
        "latest_repair_id": 71,
    }


async def test_params_are_validated_and_mapped_as_a_triggers(client, upstream):
    upstream.get("/runs/get").respond(json=failed_run())
    repair = upstream.post("/runs/repair").respond(json={"repair_id": 77})
    bad = await client.post(REPAIR, json={"params": {"no_such_field": {}}})
    good = await client.post(REPAIR, json={"params": {"job_parameters": {"day": "1"}}})
    assert (bad.status_code, bad.json()["code"]) == (400, "BAD_REQUEST")
    assert good.status_code == 200
    assert repair.call_count == 1
    assert sent(repair)["job_parameters"] == {"day": "1"}


async def test_a_run_still_active_is_409_run_not_finished(client, upstream):
    upstream.get("/runs/get").respond(json=make_run(RUN, state="RUNNING"))
    repair = upstream.post("/runs/repair")
    response = await client.post(REPAIR, json={})
    assert (response.status_code, response.json()["code"]) == (409, "RUN_NOT_FINISHED")
    assert not repair.called


async def test_a_run_without_a_failed_task_has_nothing_to_repair(client, upstream):
    tasks = [make_task("extract", 1), make_task("load", 2)]
    succeeded = make_run(RUN, state="TERMINATED", result="SUCCESS", tasks=tasks)
    upstream.get("/runs/get").respond(json=succeeded)
    repair = upstream.post("/runs/repair")
    response = await client.post(REPAIR, json={})
    assert (response.status_code, response.json()["code"]) == (409, "NOTHING_TO_REPAIR")
    assert not repair.called


async def test_a_named_task_may_be_run_again_even_in_a_successful_run(client, upstream):
    tasks = [make_task("extract", 1), make_task("load", 2)]
    upstream.get("/runs/get").respond(json=make_run(RUN, state="TERMINATED", tasks=tasks))
    upstream.post("/runs/repair").respond(json={"repair_id": 9})
    response = await client.post(REPAIR, json={"tasks": ["extract"]})
    assert response.json()["repairId"] == 9


async def test_a_task_the_run_does_not_have_is_a_400(client, upstream):
    upstream.get("/runs/get").respond(json=failed_run())
    repair = upstream.post("/runs/repair")
    response = await client.post(REPAIR, json={"tasks": ["nope"]})
    assert response.status_code == 400
    assert response.json()["error"] == f'Run {RUN} has no task "nope"'
    assert not repair.called


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b"{not json",
        b'{"tasks": []}',
        b'{"tasks": ["load", "load"]}',
        b'{"tasks": [""]}',
        b'{"tasks": "load"}',
        b'{"rerunDependents": "yes"}',
        b'{"latest_repair_id": 5}',
        b'{"params": [1]}',
    ],
)
async def test_a_body_of_another_shape_is_a_400_before_databricks_is_asked(client, upstream, body):
    read = upstream.get("/runs/get")
    response = await client.post(REPAIR, content=body)
    assert (response.status_code, response.json()["code"]) == (400, "BAD_REQUEST")
    assert not read.called


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"tasks": "load"}', "tasks must be a list of 1 to 100 task keys (text), or left out"),
        (b'{"tasks": [""]}', "tasks must be a list of 1 to 100 task keys (text), or left out"),
        (b'{"tasks": []}', "tasks must be a list of 1 to 100 task keys (text), or left out"),
        (b'{"rerunDependents": "yes"}', "rerunDependents must be true or false"),
        (b'{"params": [1]}', "params must be a plain object"),
        (b'{"latest_repair_id": 5}', "latest_repair_id is not a repair field: a repair takes"),
        (b"[]", "Request body must be a JSON object"),
    ],
)
async def test_a_misfit_body_is_told_what_the_field_must_be(client, upstream, body, message):
    """In words for people, not msgspec's ("Expected `array | null`, got `str` - at `$.tasks`")."""
    response = await client.post(REPAIR, content=body)
    assert response.status_code == 400
    assert response.json()["error"].startswith(message)
    assert "$." not in response.json()["error"]


@pytest.mark.parametrize("job_id", [JOB_IDS["report"], None])
async def test_another_jobs_run_or_a_missing_one_is_the_missing_run_404(client, upstream, job_id):
    if job_id is None:
        missing = {"error_code": "INVALID_PARAMETER_VALUE", "message": f"Run {RUN} does not exist."}
        upstream.get("/runs/get").respond(400, json=missing)
    else:
        upstream.get("/runs/get").respond(json=failed_run(job_id=job_id))
    repair = upstream.post("/runs/repair")
    response = await client.post(REPAIR, json={})
    assert response.json() == {
        "error": f"Run {RUN} not found",
        "code": "RUN_NOT_FOUND",
        "plugin": "jobs",
    }
    assert not repair.called


async def test_the_same_key_again_is_the_same_repair_and_one_repair_upstream(client, upstream):
    upstream.get("/runs/get").mock(
        side_effect=[
            httpx.Response(200, json=failed_run()),
            httpx.Response(200, json=failed_run(77)),
        ]
    )
    repair = upstream.post("/runs/repair").respond(json={"repair_id": 77})
    headers = {"Idempotency-Key": "repair-1"}
    first = await client.post(REPAIR, json={}, headers=headers)
    again = await client.post(REPAIR, json={}, headers=headers)
    assert first.json() == again.json()
    assert repair.call_count == 1


async def test_the_same_key_with_another_body_is_422(client, upstream):
    upstream.get("/runs/get").respond(json=failed_run())
    repair = upstream.post("/runs/repair").respond(json={"repair_id": 77})
    headers = {"Idempotency-Key": "repair-1"}
    await client.post(REPAIR, json={}, headers=headers)
    other = await client.post(REPAIR, json={"tasks": ["load"]}, headers=headers)
    assert (other.status_code, other.json()["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")
    assert repair.call_count == 1


async def test_a_lost_answer_is_resolved_at_once_from_the_runs_history(client, upstream):
    upstream.get("/runs/get").mock(
        side_effect=[
            httpx.Response(200, json=failed_run()),
            httpx.Response(200, json=failed_run(77)),
        ]
    )
    repair = upstream.post("/runs/repair").respond(503, json={})
    response = await client.post(REPAIR, json={})
    assert response.status_code == 200
    assert response.json()["repairId"] == 77
    assert repair.call_count == 3  # the safe-write tier's attempts, each naming no repair


async def test_a_lost_answer_not_in_the_history_is_outcome_unknown_and_its_key_gets_the_repair(
    client, upstream
):
    reads = upstream.get("/runs/get").mock(
        side_effect=[
            httpx.Response(200, json=failed_run()),
            httpx.Response(200, json=failed_run()),  # not there yet: the outcome stays unknown
            httpx.Response(200, json=failed_run(77)),  # the retry: a repair since the first read
            httpx.Response(200, json=failed_run(77)),  # read after the stale refusal
        ]
    )
    stale = {"error_code": "INVALID_PARAMETER_VALUE", "message": "latest repair ID needed"}
    repair = upstream.post("/runs/repair").mock(
        side_effect=[httpx.Response(503, json={})] * 3 + [httpx.Response(400, json=stale)]
    )
    lost = await client.post(REPAIR, json={})
    key = lost.headers["Idempotency-Key"]
    retried = await client.post(REPAIR, json={}, headers={"Idempotency-Key": key})
    assert (lost.status_code, lost.json()["code"]) == (502, "OUTCOME_UNKNOWN")
    assert lost.json()["idempotencyKey"] == key
    assert retried.json()["repairId"] == 77
    assert "latest_repair_id" not in sent(repair)  # sent on the base the key was first used on
    assert reads.call_count == 4


async def test_a_refusal_of_a_run_that_started_again_meanwhile_is_run_not_finished(
    client, upstream
):
    upstream.get("/runs/get").mock(
        side_effect=[
            httpx.Response(200, json=failed_run()),
            httpx.Response(200, json=make_run(RUN, state="RUNNING")),
        ]
    )
    refusal = {"error_code": "INVALID_PARAMETER_VALUE", "message": "in progress"}
    upstream.post("/runs/repair").respond(400, json=refusal)
    response = await client.post(REPAIR, json={})
    assert (response.status_code, response.json()["code"]) == (409, "RUN_NOT_FINISHED")


async def test_another_refusal_is_databricks_refusal(client, upstream):
    upstream.get("/runs/get").respond(json=failed_run())
    refusal = {"error_code": "INVALID_PARAMETER_VALUE", "message": "cluster policy x refused"}
    upstream.post("/runs/repair").respond(400, json=refusal)
    response = await client.post(REPAIR, json={})
    assert (response.status_code, response.json()["code"]) == (400, "UPSTREAM_REJECTED")
    assert "cluster policy" not in response.text


async def test_reads_of_the_run_are_fresh_after_a_repair(client, upstream):
    upstream.get("/runs/get", params={"include_history": "true"}).respond(json=failed_run())
    plain = upstream.get("/runs/get").mock(
        side_effect=[
            httpx.Response(200, json=failed_run()),
            httpx.Response(200, json=make_run(RUN, state="PENDING")),
        ]
    )
    upstream.post("/runs/repair").respond(json={"repair_id": 77})
    before = (await client.get(f"/api/jobs/etl/runs/{RUN}")).json()
    await client.post(REPAIR, json={})
    after = (await client.get(f"/api/jobs/etl/runs/{RUN}")).json()
    states = (before["state"]["life_cycle_state"], after["state"]["life_cycle_state"])
    assert states == ("INTERNAL_ERROR", "PENDING")
    assert plain.call_count == 2  # the finished run was cached; the repair dropped it


async def test_a_repair_is_audited_with_its_run(json_logs, settings, upstream):
    upstream.get("/runs/get").respond(json=failed_run())
    upstream.post("/runs/repair").respond(json={"repair_id": 77})
    async with make_client(settings, upstream) as client:
        await client.post(REPAIR, json={}, headers={"Idempotency-Key": "k-1"})
    (line,) = [line for line in log_lines(json_logs) if line["event"] == "audit"]
    assert (line["action"], line["run_id"], line["outcome"], line["status"]) == (
        "repair",
        RUN,
        "started",
        200,
    )
    assert line["idempotency_key_digest"] is not None
