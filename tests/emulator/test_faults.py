"""Fault injection: error statuses for the next N calls, latency, drops, and lost responses."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from service.emulator import Emulator, FaultRule
from tests.emulator.conftest import NOTEBOOK, get_run, run_now

RUNS_GET = "/api/2.2/jobs/runs/get"


async def test_a_429_with_retry_after_answers_the_next_n_calls(
    client: httpx.AsyncClient, emulator: Emulator
) -> None:
    run_id = await run_now(client, NOTEBOOK)
    emulator.add_fault(FaultRule(endpoint="runs/get", status=429, count=2, retry_after=3))
    answers = [await client.get(RUNS_GET, params={"run_id": run_id}) for _ in range(3)]
    assert [r.status_code for r in answers] == [429, 429, 200]
    assert answers[0].headers["retry-after"] == "3"
    assert answers[0].json()["error_code"] == "REQUEST_LIMIT_EXCEEDED"


async def test_a_503_says_temporarily_unavailable(
    client: httpx.AsyncClient, emulator: Emulator
) -> None:
    emulator.add_fault(FaultRule(endpoint="run-now", status=503))
    response = await client.post("/api/2.2/jobs/run-now", json={"job_id": NOTEBOOK})
    assert (response.status_code, response.json()["error_code"]) == (
        503,
        "TEMPORARILY_UNAVAILABLE",
    )
    assert "retry-after" not in response.headers
    assert emulator.runs == {}


async def test_a_fault_spares_other_endpoints(
    client: httpx.AsyncClient, emulator: Emulator
) -> None:
    emulator.add_fault(FaultRule(endpoint="runs/get", status=500))
    assert (await client.post("/api/2.2/jobs/run-now", json={"job_id": NOTEBOOK})).is_success


async def test_a_star_fault_hits_any_jobs_endpoint(
    client: httpx.AsyncClient, emulator: Emulator
) -> None:
    emulator.add_fault(FaultRule(endpoint="*", status=500, message="Unexpected error: boom"))
    response = await client.get("/api/2.1/jobs/list")
    assert response.json() == {"error_code": "INTERNAL_ERROR", "message": "Unexpected error: boom"}


async def test_latency_delays_the_answer(client: httpx.AsyncClient, emulator: Emulator) -> None:
    emulator.add_fault(FaultRule(endpoint="jobs/get", latency_ms=2_500))
    loop = asyncio.get_running_loop()
    started = loop.time()
    response = await client.get("/api/2.2/jobs/get", params={"job_id": NOTEBOOK})
    assert response.status_code == 200
    assert loop.time() - started == pytest.approx(2.5, abs=0.1)


async def test_a_drop_is_a_transport_error_for_httpx(
    client: httpx.AsyncClient, emulator: Emulator
) -> None:
    emulator.add_fault(FaultRule(endpoint="run-now", drop=True))
    with pytest.raises(httpx.TransportError):
        await client.post("/api/2.2/jobs/run-now", json={"job_id": NOTEBOOK})
    assert emulator.runs == {}


async def test_an_after_effect_fault_starts_the_run_but_loses_the_answer(
    client: httpx.AsyncClient, emulator: Emulator
) -> None:
    emulator.add_fault(FaultRule(endpoint="run-now", status=503, after_effect=True))
    body = {"job_id": NOTEBOOK, "idempotency_token": "trigger-7"}
    lost = await client.post("/api/2.2/jobs/run-now", json=body)
    [started] = emulator.runs
    retried = await client.post("/api/2.2/jobs/run-now", json=body)
    assert lost.status_code == 503
    assert retried.json()["run_id"] == started
    assert list(emulator.runs) == [started]


async def test_an_after_effect_drop_starts_the_run_then_hangs_up(
    client: httpx.AsyncClient, emulator: Emulator
) -> None:
    emulator.add_fault(FaultRule(endpoint="run-now", drop=True, after_effect=True))
    with pytest.raises(httpx.TransportError):
        await client.post("/api/2.2/jobs/run-now", json={"job_id": NOTEBOOK})
    assert len(emulator.runs) == 1


async def test_cleared_faults_fire_no_more(client: httpx.AsyncClient, emulator: Emulator) -> None:
    emulator.add_fault(FaultRule(status=500, count=5))
    emulator.clear_faults()
    assert (await client.get("/api/2.2/jobs/list")).status_code == 200


async def test_faulted_calls_are_counted_too(client: httpx.AsyncClient, emulator: Emulator) -> None:
    run_id = await run_now(client, NOTEBOOK)
    emulator.add_fault(FaultRule(endpoint="runs/get", status=429))
    await client.get(RUNS_GET, params={"run_id": run_id})
    await get_run(client, run_id)
    assert emulator.stats.calls["runs/get"] == 2


@pytest.mark.parametrize(
    "rule",
    [
        {"endpoint": "runs/get"},
        {"status": 200},
        {"status": 500, "drop": True},
        {"endpoint": "nowhere", "status": 500},
        {"status": 500, "count": 0},
        {"latency_ms": 10, "after_effect": True},
        {"status": 500, "colour": "red"},
    ],
)
async def test_invalid_fault_rules_are_refused(
    client: httpx.AsyncClient, rule: dict[str, object]
) -> None:
    response = await client.post("/emulator/faults", json=rule)
    assert response.status_code == 400
