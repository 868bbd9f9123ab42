"""runs/cancel and runs/cancel-all: asynchronous, and harmless on finished runs."""

from __future__ import annotations

import httpx

from service.emulator import ManualClock
from tests.emulator.conftest import (
    NOTEBOOK,
    ONE_TASK,
    PENDING,
    PIPELINE,
    SERIAL,
    TERMINATING,
    get_run,
    life_cycle,
    run_now,
    task_states,
)

CANCELLED = {
    "life_cycle_state": "TERMINATED",
    "result_state": "CANCELED",
    "state_message": "Run cancelled.",
    "user_cancelled_or_timedout": True,
}


async def cancel(client: httpx.AsyncClient, run_id: int) -> httpx.Response:
    return await client.post("/api/2.2/jobs/runs/cancel", json={"run_id": run_id})


async def test_a_cancelled_running_run_terminates_then_ends_cancelled(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    run_id = await run_now(client, NOTEBOOK)
    clock.advance(PENDING + 1)
    response = await cancel(client, run_id)
    terminating = await life_cycle(client, run_id)
    clock.advance(TERMINATING)
    run = await get_run(client, run_id)
    assert (response.status_code, response.json()) == (200, {})
    assert terminating == "TERMINATING"
    assert run["state"] == CANCELLED
    assert run["status"]["termination_details"]["code"] == "USER_CANCELED"


async def test_a_cancelled_pending_run_ends_at_once(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    run_id = await run_now(client, NOTEBOOK)
    clock.advance(PENDING - 1)
    await cancel(client, run_id)
    assert (await get_run(client, run_id))["state"] == CANCELLED


async def test_cancelling_a_finished_run_changes_nothing(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    run_id = await run_now(client, NOTEBOOK)
    clock.advance(ONE_TASK)
    response = await cancel(client, run_id)
    run = await get_run(client, run_id)
    assert (response.status_code, response.json()) == (200, {})
    assert run["state"]["result_state"] == "SUCCESS"


async def test_cancelling_a_pipeline_stops_the_running_task_and_skips_the_rest(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    run_id = await run_now(client, PIPELINE)
    clock.advance(ONE_TASK + PENDING + 1)
    await cancel(client, run_id)
    clock.advance(TERMINATING)
    assert task_states(await get_run(client, run_id)) == {
        "ingest": "TERMINATED/SUCCESS",
        "transform": "TERMINATED/CANCELED",
        "publish": "SKIPPED/UPSTREAM_CANCELED",
    }


async def test_a_task_run_id_cancels_its_job_run(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    run_id = await run_now(client, PIPELINE)
    task_run_id = (await get_run(client, run_id))["tasks"][0]["run_id"]
    await cancel(client, task_run_id)
    assert (await get_run(client, run_id))["state"] == CANCELLED


async def test_cancelling_an_unknown_run_is_400(client: httpx.AsyncClient) -> None:
    response = await cancel(client, 42)
    assert (response.status_code, response.json()["message"]) == (400, "Run 42 does not exist.")


async def test_cancel_needs_a_run_id(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/2.2/jobs/runs/cancel", json={})
    assert (response.status_code, response.json()["error_code"]) == (
        400,
        "INVALID_PARAMETER_VALUE",
    )


async def test_cancel_all_cancels_every_active_run_of_the_job(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    runs = [await run_now(client, SERIAL) for _ in range(2)]
    other = await run_now(client, NOTEBOOK)
    response = await client.post("/api/2.2/jobs/runs/cancel-all", json={"job_id": SERIAL})
    clock.advance(TERMINATING)
    assert response.json() == {}
    assert [await life_cycle(client, run_id) for run_id in runs] == ["TERMINATED", "TERMINATED"]
    assert await life_cycle(client, other) == "PENDING"


async def test_cancel_all_queued_runs_leaves_running_ones(client: httpx.AsyncClient) -> None:
    running, queued = await run_now(client, SERIAL), await run_now(client, SERIAL)
    await client.post("/api/2.2/jobs/runs/cancel-all", json={"all_queued_runs": True})
    assert (await get_run(client, queued))["state"] == CANCELLED
    assert await life_cycle(client, running) == "PENDING"


async def test_cancel_all_needs_a_job_or_all_queued_runs(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/2.2/jobs/runs/cancel-all", json={})
    assert (response.status_code, response.json()["error_code"]) == (
        400,
        "INVALID_PARAMETER_VALUE",
    )
