"""run-now: validation, idempotency tokens, and task selection."""

from __future__ import annotations

import httpx
import pytest

from service.emulator import Emulator, ManualClock
from tests.emulator.conftest import (
    NOTEBOOK,
    ONE_TASK,
    PIPELINE,
    get_run,
    run_now,
    task_states,
)


async def test_run_now_answers_the_run_id_twice(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/2.2/jobs/run-now", json={"job_id": NOTEBOOK})
    body = response.json()
    assert response.headers["content-type"] == "application/json"
    assert body == {"run_id": body["run_id"], "number_in_job": body["run_id"]}


async def test_an_unknown_job_is_400_does_not_exist(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/2.2/jobs/run-now", json={"job_id": 0})
    assert response.status_code == 400
    assert response.json() == {
        "error_code": "INVALID_PARAMETER_VALUE",
        "message": "Job 0 does not exist.",
    }


async def test_the_same_idempotency_token_returns_the_same_run(
    client: httpx.AsyncClient, emulator: Emulator
) -> None:
    first = await run_now(client, NOTEBOOK, idempotency_token="trigger-1")
    again = await run_now(client, NOTEBOOK, idempotency_token="trigger-1")
    assert again == first
    assert list(emulator.runs) == [first]


async def test_an_idempotency_token_stays_reserved_after_its_run_ended(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    first = await run_now(client, NOTEBOOK, idempotency_token="trigger-1")
    clock.advance(ONE_TASK)
    assert await run_now(client, PIPELINE, idempotency_token="trigger-1") == first


async def test_different_tokens_start_different_runs(client: httpx.AsyncClient) -> None:
    first = await run_now(client, NOTEBOOK, idempotency_token="a")
    assert await run_now(client, NOTEBOOK, idempotency_token="b") != first


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ({"job_id": NOTEBOOK, "idempotency_token": "x" * 65}, "INVALID_PARAMETER_VALUE", "64"),
        (
            {"job_id": NOTEBOOK, "jar_params": ["a"], "notebook_params": {"a": "b"}},
            "INVALID_PARAMETER_VALUE",
            "jar_params and notebook_params",
        ),
        ({"job_id": NOTEBOOK, "python_params": ["é"]}, "INVALID_PARAMETER_VALUE", "ASCII"),
        (
            {"job_id": NOTEBOOK, "notebook_params": {"a": "x" * 10_000}},
            "INVALID_PARAMETER_VALUE",
            "10000 bytes",
        ),
        ({}, "INVALID_PARAMETER_VALUE", "job_id"),
        ({"job_id": "1"}, "MALFORMED_REQUEST", "job_id"),
        ({"job_id": NOTEBOOK, "job_parameters": {"n": 1}}, "MALFORMED_REQUEST", "job_parameters"),
        (
            {"job_id": NOTEBOOK, "job_parameters": {"emulator_outcome": "MAYBE"}},
            "INVALID_PARAMETER_VALUE",
            "emulator_outcome",
        ),
        (
            {"job_id": NOTEBOOK, "job_parameters": {"emulator_duration_ms": "soon"}},
            "INVALID_PARAMETER_VALUE",
            "emulator_duration_ms",
        ),
        ({"job_id": PIPELINE, "only": ["nope"]}, "INVALID_PARAMETER_VALUE", "nope"),
    ],
)
async def test_invalid_bodies_are_400(
    client: httpx.AsyncClient, body: dict[str, object], code: str, message: str
) -> None:
    response = await client.post("/api/2.2/jobs/run-now", json=body)
    assert response.status_code == 400
    assert response.json()["error_code"] == code
    assert message in response.json()["message"]


async def test_a_body_that_is_not_json_is_malformed(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/2.2/jobs/run-now", content=b"{job_id: 1")
    assert (response.status_code, response.json()["error_code"]) == (400, "MALFORMED_REQUEST")


async def test_unknown_fields_are_ignored(client: httpx.AsyncClient) -> None:
    run_id = await run_now(
        client, NOTEBOOK, performance_target="PERFORMANCE_OPTIMIZED", duration_target="4h"
    )
    assert (await get_run(client, run_id))["job_id"] == NOTEBOOK


@pytest.mark.parametrize(
    ("only", "expected"),
    [
        (["transform"], {"ingest": "EXCLUDED", "transform": "PENDING", "publish": "EXCLUDED"}),
        (["+transform"], {"ingest": "PENDING", "transform": "BLOCKED", "publish": "EXCLUDED"}),
        (["transform+"], {"ingest": "EXCLUDED", "transform": "PENDING", "publish": "BLOCKED"}),
    ],
)
async def test_only_runs_the_selected_tasks(
    client: httpx.AsyncClient, only: list[str], expected: dict[str, str]
) -> None:
    run_id = await run_now(client, PIPELINE, only=only)
    states = task_states(await get_run(client, run_id))
    assert {key: state.removeprefix("SKIPPED/") for key, state in states.items()} == expected
