"""runs/repair: tasks of a finished run run again inside it, with new task runs and a history."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from service.emulator import ManualClock
from tests.emulator.conftest import (
    FLAKY,
    NOTEBOOK,
    ONE_TASK,
    PENDING,
    PIPELINE,
    get_run,
    life_cycle,
    run_now,
    task_states,
)

LONG = 100 * ONE_TASK  # enough for any of these runs (or repairs) to end


async def repair(client: httpx.AsyncClient, run_id: int, **body: Any) -> httpx.Response:
    return await client.post("/api/2.2/jobs/runs/repair", json={"run_id": run_id, **body})


async def repaired(client: httpx.AsyncClient, run_id: int, **body: Any) -> int:
    response = await repair(client, run_id, **body)
    assert response.status_code == 200, response.text
    return int(response.json()["repair_id"])


async def history(client: httpx.AsyncClient, run_id: int) -> list[dict[str, Any]]:
    params = {"run_id": run_id, "include_history": "true"}
    response = await client.get("/api/2.2/jobs/runs/get", params=params)
    return response.json()["repair_history"]  # type: ignore[no-any-return]


async def failed_flaky_run(client: httpx.AsyncClient, clock: ManualClock) -> int:
    run_id = await run_now(client, FLAKY)
    clock.advance(LONG)
    return run_id


def task_ids(run: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """task_key -> (task run id, attempt number)."""
    return {t["task_key"]: (t["run_id"], t["attempt_number"]) for t in run["tasks"]}


async def test_repairing_all_failed_tasks_runs_the_failure_and_what_it_stopped_again(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    run_id = await failed_flaky_run(client, clock)
    before = task_ids(await get_run(client, run_id))
    await repaired(client, run_id, rerun_all_failed_tasks=True)
    after = task_ids(await get_run(client, run_id))
    assert after["extract"] == before["extract"]
    assert {key: after[key][1] for key in ("load", "notify")} == {"load": 1, "notify": 1}
    assert after["load"][0] not in {before["load"][0], before["notify"][0], run_id}
    assert after["notify"][0] not in {before["load"][0], before["notify"][0], after["load"][0]}


async def test_a_repaired_run_starts_over_and_ends_again(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    run_id = await failed_flaky_run(client, clock)
    await repaired(client, run_id, rerun_all_failed_tasks=True)
    starting = await get_run(client, run_id)
    clock.advance(PENDING)
    running = await life_cycle(client, run_id)
    clock.advance(LONG)
    ended = await get_run(client, run_id)
    assert (starting["state"]["life_cycle_state"], starting["end_time"]) == ("PENDING", 0)
    assert task_states(starting) == {
        "extract": "TERMINATED/SUCCESS",
        "load": "PENDING",
        "notify": "BLOCKED",
    }
    assert running == "RUNNING"
    assert ended["state"]["result_state"] == "SUCCESS"  # the flaky load succeeds when repaired
    assert set(task_states(ended).values()) == {"TERMINATED/SUCCESS"}
    assert ended["start_time"] < ended["end_time"]


async def test_the_history_has_the_original_and_each_repair_only_when_asked_for(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    run_id = await failed_flaky_run(client, clock)
    original = task_ids(await get_run(client, run_id))
    repair_id = await repaired(client, run_id, rerun_all_failed_tasks=True)
    clock.advance(LONG)
    items = await history(client, run_id)
    now = task_ids(await get_run(client, run_id))
    assert "repair_history" not in await get_run(client, run_id)
    assert [item["type"] for item in items] == ["ORIGINAL", "REPAIR"]
    assert "id" not in items[0]
    assert items[1]["id"] == repair_id
    assert items[0]["task_run_ids"] == [ids[0] for ids in original.values()]
    assert items[1]["task_run_ids"] == [now["load"][0], now["notify"][0]]
    assert items[0]["state"]["result_state"] == "FAILED"
    assert items[1]["state"]["result_state"] == "SUCCESS"
    assert items[0]["end_time"] <= items[1]["start_time"] < items[1]["end_time"]


async def test_a_repair_in_progress_shows_in_the_history_as_running(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    run_id = await failed_flaky_run(client, clock)
    await repaired(client, run_id, rerun_all_failed_tasks=True)
    clock.advance(PENDING)
    latest = (await history(client, run_id))[-1]
    assert (latest["state"]["life_cycle_state"], latest["end_time"]) == ("RUNNING", 0)


async def test_a_second_repair_must_name_the_latest_repair(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    run_id = await failed_flaky_run(client, clock)
    fails_again = {"job_parameters": {"emulator_outcome": "FAILED"}}
    first = await repaired(client, run_id, rerun_all_failed_tasks=True, **fails_again)
    clock.advance(LONG)
    missing = await repair(client, run_id, rerun_all_failed_tasks=True)
    stale = await repair(client, run_id, rerun_all_failed_tasks=True, latest_repair_id=first - 1)
    second = await repaired(client, run_id, rerun_all_failed_tasks=True, latest_repair_id=first)
    assert missing.status_code == stale.status_code == 400
    assert missing.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "latest repair ID needs to be provided" in missing.json()["message"]
    assert "is not the latest repair" in stale.json()["message"]
    assert second > first
    assert [item.get("id") for item in await history(client, run_id)] == [None, first, second]


async def test_a_blind_retry_of_a_repair_that_went_through_is_refused(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    run_id = await failed_flaky_run(client, clock)
    await repaired(client, run_id, rerun_all_failed_tasks=True)
    clock.advance(LONG)
    again = await repair(client, run_id, rerun_all_failed_tasks=True)
    assert again.status_code == 400
    assert len(await history(client, run_id)) == 2


async def test_a_first_repair_naming_a_repair_is_refused(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    run_id = await failed_flaky_run(client, clock)
    response = await repair(client, run_id, rerun_all_failed_tasks=True, latest_repair_id=5)
    assert response.status_code == 400
    assert "has not been repaired" in response.json()["message"]


async def test_a_run_in_progress_cannot_be_repaired(client: httpx.AsyncClient) -> None:
    run_id = await run_now(client, FLAKY)
    response = await repair(client, run_id, rerun_all_failed_tasks=True)
    assert response.status_code == 400
    assert "still in progress" in response.json()["message"]
    assert await life_cycle(client, run_id) == "PENDING"


async def test_a_repair_in_progress_cannot_be_repaired_again(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    run_id = await failed_flaky_run(client, clock)
    first = await repaired(client, run_id, rerun_all_failed_tasks=True)
    response = await repair(client, run_id, rerun_all_failed_tasks=True, latest_repair_id=first)
    assert response.status_code == 400
    assert "still in progress" in response.json()["message"]


async def test_named_tasks_run_again_and_their_dependants_only_when_asked(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    run_id = await failed_flaky_run(client, clock)
    before = task_ids(await get_run(client, run_id))
    first = await repaired(client, run_id, rerun_tasks=["load"])
    clock.advance(LONG)
    alone = await get_run(client, run_id)
    await repaired(
        client, run_id, rerun_tasks=["extract"], rerun_dependent_tasks=True, latest_repair_id=first
    )
    clock.advance(LONG)
    every = await get_run(client, run_id)
    assert task_states(alone)["notify"] == "SKIPPED/UPSTREAM_FAILED"
    assert task_ids(alone)["notify"] == before["notify"]
    # The stopped task was kept as it was: the run still failed, though nothing failed again.
    assert alone["state"]["result_state"] == "FAILED"
    assert [attempt for _, attempt in task_ids(every).values()] == [1, 2, 1]
    assert every["state"]["result_state"] == "SUCCESS"


async def test_rerun_dependent_tasks_with_all_failed_tasks_adds_their_dependants(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    run_id = await run_now(client, PIPELINE, job_parameters={"emulator_outcome": "FAILED"})
    clock.advance(LONG)
    before = task_ids(await get_run(client, run_id))
    await repaired(client, run_id, rerun_all_failed_tasks=True, rerun_dependent_tasks=True)
    after = task_ids(await get_run(client, run_id))
    assert before["publish"][1] == 0  # the pipeline's last task failed: it alone runs again
    assert [after[key] == before[key] for key in ("ingest", "transform", "publish")] == [
        True,
        True,
        False,
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "Either rerun_tasks or rerun_all_failed_tasks must be set."),
        ({"rerun_tasks": []}, "Either rerun_tasks or rerun_all_failed_tasks must be set."),
        (
            {"rerun_all_failed_tasks": True, "rerun_tasks": ["load"]},
            "Only one of rerun_tasks or rerun_all_failed_tasks can be set.",
        ),
        ({"rerun_tasks": ["nope"]}, "Task nope does not exist in run {run_id}."),
    ],
)
async def test_what_to_run_again_is_one_of_two_ways_and_names_real_tasks(
    client: httpx.AsyncClient, clock: ManualClock, body: dict[str, Any], message: str
) -> None:
    run_id = await failed_flaky_run(client, clock)
    response = await repair(client, run_id, **body)
    assert response.status_code == 400
    assert response.json() == {
        "error_code": "INVALID_PARAMETER_VALUE",
        "message": message.format(run_id=run_id),
    }


async def test_a_run_without_failed_tasks_has_nothing_to_repair(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    run_id = await run_now(client, NOTEBOOK)
    clock.advance(LONG)
    response = await repair(client, run_id, rerun_all_failed_tasks=True)
    assert response.status_code == 400
    assert response.json()["message"] == f"Run {run_id} has no failed tasks to repair."


async def test_a_task_run_or_an_unknown_run_cannot_be_repaired(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    run_id = await failed_flaky_run(client, clock)
    load = task_ids(await get_run(client, run_id))["load"][0]
    task_run = await repair(client, load, rerun_all_failed_tasks=True)
    unknown = await repair(client, 123, rerun_all_failed_tasks=True)
    missing = await client.post("/api/2.2/jobs/runs/repair", json={})
    assert task_run.status_code == unknown.status_code == missing.status_code == 400
    assert f"repair its job run {run_id}" in task_run.json()["message"]
    assert unknown.json()["message"] == "Run 123 does not exist."
    assert missing.json()["message"] == "Missing required field: run_id"


async def test_repair_parameters_are_the_runs_from_then_on(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    run_id = await run_now(client, NOTEBOOK, job_parameters={"emulator_outcome": "FAILED"})
    clock.advance(LONG)
    await repaired(
        client,
        run_id,
        rerun_all_failed_tasks=True,
        job_parameters={"emulator_outcome": "SUCCESS", "run_date": "2026-01-02"},
    )
    clock.advance(LONG)
    run = await get_run(client, run_id)
    values = {p["name"]: p["value"] for p in run["job_parameters"]}
    assert values == {"emulator_outcome": "SUCCESS", "env": "dev", "run_date": "2026-01-02"}
    assert run["state"]["result_state"] == "SUCCESS"


async def test_earlier_task_runs_stay_readable_with_their_own_outcome(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    run_id = await failed_flaky_run(client, clock)
    old_load = task_ids(await get_run(client, run_id))["load"][0]
    await repaired(client, run_id, rerun_all_failed_tasks=True)
    clock.advance(LONG)
    new_load = task_ids(await get_run(client, run_id))["load"][0]
    old = await client.get("/api/2.2/jobs/runs/get-output", params={"run_id": old_load})
    new = await client.get("/api/2.2/jobs/runs/get-output", params={"run_id": new_load})
    assert old.json()["error"] == "ConnectionError: refused"
    assert old.json()["metadata"]["state"]["result_state"] == "FAILED"
    assert new.json()["metadata"]["state"]["result_state"] == "SUCCESS"
    assert new.json()["metadata"]["attempt_number"] == 1
    assert new.json()["metadata"]["original_attempt_run_id"] == old_load
    assert "error" not in new.json()


async def test_a_repair_can_be_cancelled_and_keeps_what_it_did_not_run(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    run_id = await failed_flaky_run(client, clock)
    await repaired(client, run_id, rerun_all_failed_tasks=True)
    clock.advance(PENDING + 1)
    await client.post("/api/2.2/jobs/runs/cancel", json={"run_id": run_id})
    clock.advance(LONG)
    run = await get_run(client, run_id)
    assert run["state"]["result_state"] == "CANCELED"
    assert task_states(run) == {
        "extract": "TERMINATED/SUCCESS",
        "load": "TERMINATED/CANCELED",
        "notify": "SKIPPED/UPSTREAM_CANCELED",
    }
