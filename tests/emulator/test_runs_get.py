"""runs/get: a run's life on the clock, its fields, failures, and requested outcomes."""

from __future__ import annotations

import httpx
import pytest

from service.emulator import ManualClock
from service.emulator.scenario import JobSpec, TaskSpec
from tests.emulator.conftest import (
    FLAKY,
    NOTEBOOK,
    ONE_TASK,
    PENDING,
    PIPELINE,
    RUNNING,
    START_MS,
    TERMINATING,
    get_run,
    life_cycle,
    make_app,
    make_client,
    make_scenario,
    run_now,
    task_states,
)


async def test_a_run_goes_pending_running_terminating_terminated(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    run_id = await run_now(client, NOTEBOOK)
    seen = [await life_cycle(client, run_id)]
    for step in (PENDING, RUNNING, TERMINATING):
        clock.advance(step)
        seen.append(await life_cycle(client, run_id))
    assert seen == ["PENDING", "RUNNING", "TERMINATING", "TERMINATED"]


async def test_result_state_and_end_time_appear_only_when_the_run_is_over(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    run_id = await run_now(client, NOTEBOOK)
    clock.advance(ONE_TASK - 1)
    running = await get_run(client, run_id)
    clock.advance(1)
    done = await get_run(client, run_id)
    assert "result_state" not in running["state"]
    assert running["end_time"] == 0
    assert done["state"] == {
        "life_cycle_state": "TERMINATED",
        "result_state": "SUCCESS",
        "state_message": "",
        "user_cancelled_or_timedout": False,
    }
    assert done["status"] == {
        "state": "TERMINATED",
        "termination_details": {"code": "SUCCESS", "type": "SUCCESS", "message": ""},
    }
    assert done["end_time"] == START_MS + ONE_TASK


async def test_a_run_carries_the_identity_fields_clients_read(client: httpx.AsyncClient) -> None:
    run_id = await run_now(client, NOTEBOOK)
    run = await get_run(client, run_id)
    assert run["run_id"] == run["number_in_job"] == run["original_attempt_run_id"] == run_id
    assert run_id > 2**40  # int64 ids, as Databricks hands out
    assert (run["job_id"], run["run_name"], run["attempt_number"]) == (NOTEBOOK, "notebook", 0)
    assert (run["run_type"], run["trigger"]) == ("JOB_RUN", "ONE_TIME")
    assert run["start_time"] == START_MS
    assert run["run_page_url"] == (
        f"http://workspace.test/?o=1234567890123456#job/{NOTEBOOK}/run/{run_id}"
    )


async def test_each_task_has_its_own_run_id_and_page(client: httpx.AsyncClient) -> None:
    first, second = await run_now(client, PIPELINE), await run_now(client, PIPELINE)
    tasks = [t for run_id in (first, second) for t in (await get_run(client, run_id))["tasks"]]
    ids = [task["run_id"] for task in tasks]
    assert len(set(ids) | {first, second}) == 8
    assert all(task["run_page_url"].endswith(f"/run/{task['run_id']}") for task in tasks)
    assert {task["job_run_id"] for task in tasks[:3]} == {first}


async def test_later_tasks_wait_blocked_for_their_dependencies(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    run_id = await run_now(client, PIPELINE)
    clock.advance(PENDING)
    early = await get_run(client, run_id)
    clock.advance(RUNNING + TERMINATING)
    later = await get_run(client, run_id)
    assert task_states(early) == {"ingest": "RUNNING", "transform": "BLOCKED", "publish": "BLOCKED"}
    assert task_states(later) == {
        "ingest": "TERMINATED/SUCCESS",
        "transform": "PENDING",
        "publish": "BLOCKED",
    }
    assert later["tasks"][1]["depends_on"] == [{"task_key": "ingest"}]


async def test_a_multi_task_run_reports_run_duration_and_zero_phase_durations(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    run_id = await run_now(client, PIPELINE)
    clock.advance(3 * ONE_TASK)
    run = await get_run(client, run_id)
    assert (run["setup_duration"], run["execution_duration"], run["cleanup_duration"]) == (0, 0, 0)
    assert run["run_duration"] == 3 * ONE_TASK
    assert [
        (t["setup_duration"], t["execution_duration"], t["cleanup_duration"]) for t in run["tasks"]
    ] == [(PENDING, RUNNING, TERMINATING)] * 3


async def test_a_one_task_run_reports_its_task_durations(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    run_id = await run_now(client, NOTEBOOK)
    clock.advance(ONE_TASK)
    run = await get_run(client, run_id)
    assert (run["setup_duration"], run["execution_duration"], run["cleanup_duration"]) == (
        PENDING,
        RUNNING,
        TERMINATING,
    )


async def test_a_failed_task_makes_the_run_internal_error_failed(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    run_id = await run_now(client, FLAKY)
    clock.advance(2 * ONE_TASK)
    run = await get_run(client, run_id)
    message = "Task load failed with message: Workload failed, see run output for details."
    assert run["state"] == {
        "life_cycle_state": "INTERNAL_ERROR",
        "result_state": "FAILED",
        "state_message": message,
        "user_cancelled_or_timedout": False,
    }
    assert run["status"] == {
        "state": "TERMINATED",
        "termination_details": {
            "code": "RUN_EXECUTION_ERROR",
            "type": "CLIENT_ERROR",
            "message": message,
        },
    }
    assert task_states(run) == {
        "extract": "TERMINATED/SUCCESS",
        "load": "TERMINATED/FAILED",
        "notify": "SKIPPED/UPSTREAM_FAILED",
    }
    assert run["tasks"][1]["state"]["state_message"] == (
        "Workload failed, see run output for details"
    )


async def test_the_internal_error_quirk_can_be_switched_off(clock: ManualClock) -> None:
    app = make_app(make_scenario(internal_error_on_task_failure=False), clock=clock)
    async with make_client(app) as client:
        run_id = await run_now(client, FLAKY)
        clock.advance(2 * ONE_TASK)
        state = (await get_run(client, run_id))["state"]
    assert (state["life_cycle_state"], state["result_state"]) == ("TERMINATED", "FAILED")


@pytest.mark.parametrize(
    "params", ["job_parameters", "notebook_params", "python_named_params", "sql_params"]
)
async def test_a_run_can_ask_to_fail_through_its_parameters(
    client: httpx.AsyncClient, clock: ManualClock, params: str
) -> None:
    run_id = await run_now(client, NOTEBOOK, **{params: {"emulator_outcome": "FAILED"}})
    clock.advance(ONE_TASK)
    state = (await get_run(client, run_id))["state"]
    assert (state["life_cycle_state"], state["result_state"]) == ("INTERNAL_ERROR", "FAILED")


async def test_a_requested_success_overrides_a_failing_task(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    run_id = await run_now(client, FLAKY, job_parameters={"emulator_outcome": "SUCCESS"})
    clock.advance(3 * ONE_TASK)
    assert (await get_run(client, run_id))["state"]["result_state"] == "SUCCESS"


async def test_a_requested_failure_falls_on_the_last_task(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    run_id = await run_now(client, PIPELINE, job_parameters={"emulator_outcome": "FAILED"})
    clock.advance(3 * ONE_TASK)
    run = await get_run(client, run_id)
    assert task_states(run)["publish"] == "TERMINATED/FAILED"
    assert run["state"]["state_message"].startswith("Task publish failed")


async def test_a_requested_internal_error_has_no_result_state(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    run_id = await run_now(client, NOTEBOOK, job_parameters={"emulator_outcome": "INTERNAL_ERROR"})
    clock.advance(ONE_TASK)
    run = await get_run(client, run_id)
    assert run["state"]["life_cycle_state"] == "INTERNAL_ERROR"
    assert "result_state" not in run["state"]
    assert run["status"]["termination_details"]["code"] == "INTERNAL_ERROR"


async def test_a_run_can_ask_how_long_its_tasks_run(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    run_id = await run_now(client, NOTEBOOK, job_parameters={"emulator_duration_ms": "60000"})
    clock.advance(PENDING + 59_999)
    still = await life_cycle(client, run_id)
    clock.advance(1)
    assert (still, await life_cycle(client, run_id)) == ("RUNNING", "TERMINATING")


async def test_job_parameters_are_merged_with_the_defaults_and_sorted(
    client: httpx.AsyncClient,
) -> None:
    run_id = await run_now(client, NOTEBOOK, job_parameters={"run_date": "2026-01-02", "x": "1"})
    assert (await get_run(client, run_id))["job_parameters"] == [
        {"name": "env", "default": "dev", "value": "dev"},
        {"name": "run_date", "default": "", "value": "2026-01-02"},
        {"name": "x", "value": "1"},
    ]


async def test_legacy_parameters_are_echoed_as_overriding_parameters(
    client: httpx.AsyncClient,
) -> None:
    sent = {"python_params": ["--date", "2026-01-02"], "dbt_commands": ["dbt run"]}
    run_id = await run_now(client, NOTEBOOK, **sent)
    run = await get_run(client, run_id)
    assert run["overriding_parameters"] == sent


async def test_an_unknown_run_is_400_does_not_exist(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/2.2/jobs/runs/get", params={"run_id": 123})
    assert response.status_code == 400
    assert response.json() == {
        "error_code": "INVALID_PARAMETER_VALUE",
        "message": "Run 123 does not exist.",
    }


@pytest.mark.parametrize("run_id", ["", "abc"])
async def test_a_missing_or_malformed_run_id_is_400(client: httpx.AsyncClient, run_id: str) -> None:
    response = await client.get("/api/2.2/jobs/runs/get", params={"run_id": run_id})
    assert (response.status_code, response.json()["error_code"]) == (
        400,
        "INVALID_PARAMETER_VALUE",
    )


async def test_a_task_run_id_answers_with_the_task_as_a_run(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    run_id = await run_now(client, PIPELINE)
    clock.advance(PENDING)
    task = (await get_run(client, run_id))["tasks"][0]
    as_run = await get_run(client, task["run_id"])
    assert (as_run["run_id"], as_run["job_run_id"], as_run["job_id"]) == (
        task["run_id"],
        run_id,
        PIPELINE,
    )
    assert as_run["state"]["life_cycle_state"] == "RUNNING"


@pytest.mark.parametrize("version", ["2.0", "2.1", "2.2"])
async def test_every_api_version_serves_the_same_run(
    client: httpx.AsyncClient, version: str
) -> None:
    run_id = await run_now(client, PIPELINE)
    assert (await get_run(client, run_id, version))["run_id"] == run_id


async def test_api_2_2_pages_tasks_by_100_and_omits_the_token_on_the_last_page(
    clock: ManualClock,
) -> None:
    tasks = tuple(TaskSpec(task_key=f"t{i:03}") for i in range(130))
    scenario = make_scenario(jobs={"wide": JobSpec(job_id=9, tasks=tasks)})
    async with make_client(make_app(scenario, clock=clock)) as client:
        run_id = await run_now(client, 9)
        first = await get_run(client, run_id)
        response = await client.get(
            "/api/2.2/jobs/runs/get",
            params={"run_id": run_id, "page_token": first["next_page_token"]},
        )
        whole = await get_run(client, run_id, version="2.1")
    second = response.json()
    assert (len(first["tasks"]), len(second["tasks"])) == (100, 30)
    assert "next_page_token" not in second
    assert len(whole["tasks"]) == 130
    assert "next_page_token" not in whole
