"""Fault injection: error statuses for the next N calls, latency, drops, and lost responses."""

from __future__ import annotations

import asyncio
import contextlib

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


@pytest.mark.parametrize(
    ("garble", "content_type"),
    [("html", "text/html"), ("not_json", "application/json"), ("not_object", "application/json")],
)
async def test_a_garbled_fault_answers_200_with_what_no_client_can_use(
    client: httpx.AsyncClient, emulator: Emulator, garble: str, content_type: str
) -> None:
    emulator.add_fault(FaultRule(endpoint="jobs/get", garble=garble))  # type: ignore[arg-type]
    response = await client.get("/api/2.2/jobs/get", params={"job_id": NOTEBOOK})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(content_type)
    body = None
    with contextlib.suppress(ValueError):  # not JSON at all
        body = response.json()
    assert not isinstance(body, dict)


async def test_a_huge_body_fault_sends_a_json_object_that_long(
    client: httpx.AsyncClient, emulator: Emulator
) -> None:
    emulator.add_fault(FaultRule(endpoint="runs/list", huge_body_bytes=300_000))
    response = await client.get("/api/2.2/jobs/runs/list")
    assert response.status_code == 200
    assert len(response.content) == 300_000
    assert set(response.json()) == {"padding"}


async def test_a_slow_body_fault_sends_the_real_answer_a_byte_at_a_time(
    client: httpx.AsyncClient, emulator: Emulator
) -> None:
    run_id = await run_now(client, NOTEBOOK)
    real = await client.get(RUNS_GET, params={"run_id": run_id})
    emulator.add_fault(FaultRule(endpoint="runs/get", slow_body_ms=10))
    loop = asyncio.get_running_loop()
    started = loop.time()
    slow = await client.get(RUNS_GET, params={"run_id": run_id})
    assert slow.content == real.content
    assert loop.time() - started == pytest.approx(len(real.content) * 0.01, rel=0.05)


@pytest.mark.parametrize(
    "rule",
    [
        {"garble": "html", "status": 500},
        {"garble": "yaml"},
        {"huge_body_bytes": 0},
        {"slow_body_ms": 5, "drop": True},
        {"huge_body_bytes": 10, "garble": "html"},
    ],
)
async def test_body_fault_rules_that_make_no_sense_are_refused(
    client: httpx.AsyncClient, rule: dict[str, object]
) -> None:
    response = await client.post("/emulator/faults", json=rule)
    assert response.status_code == 400
