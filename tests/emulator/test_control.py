"""The control API over HTTP: faults, stats, reset, the clock, run outcomes."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette

from service.emulator import Emulator, ManualClock, ScaledClock, create_emulator_app
from tests.emulator.conftest import (
    NOTEBOOK,
    ONE_TASK,
    PENDING,
    START_MS,
    get_run,
    life_cycle,
    make_client,
    make_scenario,
    run_now,
)


async def test_faults_are_added_listed_and_cleared(client: httpx.AsyncClient) -> None:
    added = await client.post(
        "/emulator/faults", json={"endpoint": "runs/get", "status": 429, "count": 3}
    )
    listed = await client.get("/emulator/faults")
    cleared = await client.delete("/emulator/faults")
    assert added.status_code == 200
    assert listed.json()["faults"] == [
        {
            "endpoint": "runs/get",
            "status": 429,
            "count": 3,
            "remaining": 3,
        }
    ]
    assert cleared.json() == {}
    assert (await client.get("/emulator/faults")).json() == {"faults": []}


async def test_stats_count_calls_and_keep_run_now_bodies_and_tokens(
    client: httpx.AsyncClient,
) -> None:
    run_id = await run_now(client, NOTEBOOK, job_parameters={"env": "prod"})
    await get_run(client, run_id)
    await client.get("/api/2.1/jobs/runs/list", headers={"Authorization": "Bearer user-token"})
    stats = (await client.get("/emulator/stats")).json()
    assert stats == {
        "calls": {"run-now": 1, "runs/get": 1, "runs/list": 1},
        "run_now_bodies": [{"job_id": NOTEBOOK, "job_parameters": {"env": "prod"}}],
        "tokens": ["dapi-local-dev", "dapi-local-dev", "user-token"],
        "refused": 0,
        "token_grants": [],
    }


async def test_reset_forgets_runs_and_stats_but_keeps_jobs(
    client: httpx.AsyncClient, emulator: Emulator
) -> None:
    old = await run_now(client, NOTEBOOK, idempotency_token="t")
    response = await client.post("/emulator/reset")
    gone = await client.get("/api/2.2/jobs/runs/get", params={"run_id": old})
    new = await run_now(client, NOTEBOOK, idempotency_token="t")
    assert response.json() == {}
    assert gone.status_code == 400
    assert new > old  # ids are never reused
    assert emulator.stats.calls["run-now"] == 1


async def test_the_clock_can_be_read_and_advanced(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    run_id = await run_now(client, NOTEBOOK)
    advanced = await client.post("/emulator/clock/advance", json={"ms": ONE_TASK})
    assert advanced.json() == {"now_ms": START_MS + ONE_TASK}
    assert (await client.get("/emulator/clock")).json() == {
        "now_ms": START_MS + ONE_TASK,
        "speed": 1.0,
        "manual": True,
    }
    assert await life_cycle(client, run_id) == "TERMINATED"


async def test_a_real_time_clock_cannot_be_advanced() -> None:
    app = create_emulator_app(make_scenario(), clock=ScaledClock(speed=5))
    async with make_client(app) as client:
        response = await client.post("/emulator/clock/advance", json={"ms": 1})
    assert (response.status_code, response.json()["error_code"]) == (400, "INVALID_STATE")


async def test_a_running_run_can_be_told_to_fail(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    run_id = await run_now(client, NOTEBOOK)
    clock.advance(PENDING)
    response = await client.post(f"/emulator/runs/{run_id}/outcome", json={"outcome": "FAILED"})
    clock.advance(ONE_TASK)
    assert response.json() == {}
    assert (await get_run(client, run_id))["state"]["result_state"] == "FAILED"


async def test_a_finished_run_keeps_its_outcome(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    run_id = await run_now(client, NOTEBOOK)
    clock.advance(ONE_TASK)
    response = await client.post(f"/emulator/runs/{run_id}/outcome", json={"outcome": "FAILED"})
    assert (response.status_code, response.json()["error_code"]) == (400, "INVALID_STATE")


async def test_the_control_api_needs_no_credentials(app: Starlette) -> None:
    async with make_client(app, token=None) as client:
        assert (await client.get("/emulator/stats")).status_code == 200


async def test_unknown_paths_are_json_404s(client: httpx.AsyncClient) -> None:
    response = await client.get("/emulator/nothing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error_code"] == "ENDPOINT_NOT_FOUND"
