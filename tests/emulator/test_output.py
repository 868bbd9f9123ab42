"""runs/get-output: per task run, by task type; never for a job run."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from service.emulator import ManualClock
from service.emulator.outputs import MAX_OUTPUT_BYTES
from service.emulator.scenario import JobSpec, TaskSpec
from tests.emulator.conftest import (
    DBT,
    FLAKY,
    NOTEBOOK,
    ONE_TASK,
    PENDING,
    PIPELINE,
    SQL,
    WHEEL,
    get_run,
    make_app,
    make_client,
    make_scenario,
    run_now,
)

MULTI_TASK = (
    "Retrieving the output of runs with multiple tasks is not supported. "
    "Please retrieve the output of each individual task run instead."
)


async def output_of(client: httpx.AsyncClient, run_id: int) -> httpx.Response:
    return await client.get("/api/2.2/jobs/runs/get-output", params={"run_id": run_id})


async def finished_task_outputs(
    client: httpx.AsyncClient, clock: ManualClock, job_id: int, tasks: int = 1
) -> list[dict[str, Any]]:
    run_id = await run_now(client, job_id)
    clock.advance(tasks * ONE_TASK)
    run = await get_run(client, run_id)
    return [(await output_of(client, task["run_id"])).json() for task in run["tasks"]]


@pytest.mark.parametrize("job_id", [NOTEBOOK, PIPELINE])
async def test_a_job_run_has_no_output_even_with_one_task(
    client: httpx.AsyncClient, job_id: int
) -> None:
    response = await output_of(client, await run_now(client, job_id))
    assert response.status_code == 400
    assert response.json() == {"error_code": "INVALID_PARAMETER_VALUE", "message": MULTI_TASK}


async def test_a_notebook_task_returns_its_exit_value(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    [output] = await finished_task_outputs(client, clock, NOTEBOOK)
    assert output["notebook_output"] == {"result": '{"rows": 3}', "truncated": False}
    assert "logs" not in output
    assert output["metadata"]["state"]["result_state"] == "SUCCESS"


async def test_a_wheel_task_returns_its_logs(client: httpx.AsyncClient, clock: ManualClock) -> None:
    [output] = await finished_task_outputs(client, clock, WHEEL)
    assert (output["logs"], output["logs_truncated"]) == ("loaded 3 rows\n", False)
    assert "notebook_output" not in output


async def test_each_task_of_a_pipeline_has_its_own_output(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    outputs = await finished_task_outputs(client, clock, PIPELINE, tasks=3)
    assert [o["metadata"]["run_name"] for o in outputs] == ["ingest", "transform", "publish"]
    assert outputs[1]["logs"] == "transformed\n"
    assert outputs[2]["notebook_output"]["result"] == "done"


async def test_a_failed_task_reports_its_error_and_trace(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    _, load, notify = await finished_task_outputs(client, clock, FLAKY, tasks=2)
    assert load["error"] == "ConnectionError: refused"
    assert load["error_trace"].startswith("Traceback (most recent call last):")
    assert load["logs"] == "connecting\n"
    assert notify["metadata"]["state"]["result_state"] == "UPSTREAM_FAILED"
    assert "notebook_output" not in notify


async def test_a_running_task_answers_with_metadata_only(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    run_id = await run_now(client, NOTEBOOK)
    clock.advance(PENDING)
    task = (await get_run(client, run_id))["tasks"][0]
    output = (await output_of(client, task["run_id"])).json()
    assert list(output) == ["metadata"]
    assert output["metadata"]["state"]["life_cycle_state"] == "RUNNING"


async def test_sql_and_dbt_tasks_have_their_own_outputs(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    [sql] = await finished_task_outputs(client, clock, SQL)
    [dbt] = await finished_task_outputs(client, clock, DBT)
    assert sql["sql_output"]["query_output"]["query_text"] == "SELECT 1"
    assert dbt["dbt_output"]["artifacts_link"].startswith("http://workspace.test/")


async def test_outputs_beyond_5_mb_are_cut_as_the_api_cuts_them(clock: ManualClock) -> None:
    big = "a" * MAX_OUTPUT_BYTES + "end"
    tasks = (
        TaskSpec(task_key="notebook", output=big),
        TaskSpec(task_key="script", type="python_script", output="start" + big),
    )
    scenario = make_scenario(jobs={"big": JobSpec(job_id=7, tasks=tasks)})
    async with make_client(make_app(scenario, clock=clock)) as client:
        notebook, script = await finished_task_outputs(client, clock, 7)
    assert notebook["notebook_output"]["truncated"] is True
    assert notebook["notebook_output"]["result"] == "a" * MAX_OUTPUT_BYTES
    assert script["logs_truncated"] is True
    assert script["logs"].endswith("end")
    assert len(script["logs"]) == MAX_OUTPUT_BYTES
