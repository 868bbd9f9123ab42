"""Lost run-now answers and shutdown over real sockets: every trigger answered, one run per key.

The service and the emulator run on real Hypercorn on loopback; the emulator's idempotency
token memory is what makes a retry with the returned key answer with the run already started.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import msgspec
import pytest
import stamina

from service.app import create_app
from service.emulator import ScaledClock, Scenario, create_emulator_app
from service.emulator.app import emulator_state
from tests.e2e.servers import SPEED, fast_settings, fault, running, stack, stats
from tests.factories import DEMO_JOB_IDS

pytestmark = pytest.mark.looptime(False)
PARAMS = {"params": {"run_date": "2026-11-29"}}


async def etl_runs(emulator: httpx.AsyncClient) -> list[int]:
    reply = await emulator.get(
        "/api/2.1/jobs/runs/list",
        params={"job_id": DEMO_JOB_IDS["etl"], "limit": 25},
        headers={"Authorization": "Bearer dapi-local-dev"},
    )
    return [r["run_id"] for r in reply.json().get("runs", [])]


@pytest.mark.parametrize("lost", [{"drop": True}, {"status": 503}], ids=["dropped", "503"])
async def test_a_lost_run_now_answer_gives_a_key_that_gets_the_run_started(lost: dict[str, Any]):
    async with stack() as s:
        await fault(s, endpoint="run-now", after_effect=True, count=3, **lost)
        with stamina.set_testing(True, attempts=3, cap=True):  # the three attempts, no backoff
            first = await s.api.post("/api/jobs/etl/run", json=PARAMS)
        started = await etl_runs(s.emulator)
        key = first.headers["idempotency-key"]
        retry = await s.api.post("/api/jobs/etl/run", json=PARAMS, headers={"Idempotency-Key": key})
        after = await etl_runs(s.emulator)
        bodies = (await stats(s))["run_now_bodies"]
    assert (first.status_code, first.json()["code"]) == (502, "OUTCOME_UNKNOWN")
    assert first.json()["idempotencyKey"] == key
    assert len(started) == 1  # Databricks did start it: a blind retry would have made two
    assert retry.json() == {"runId": started[0]}
    assert after == started
    assert len({b["idempotency_token"] for b in bodies}) == 1
    assert len(bodies) == 4


async def test_the_same_key_with_other_parameters_is_422_over_real_sockets():
    async with stack() as s:
        headers = {"Idempotency-Key": "order-18"}
        first = await s.api.post("/api/jobs/etl/run", json=PARAMS, headers=headers)
        other = {"params": {"run_date": "2026-11-30"}}
        reused = await s.api.post("/api/jobs/etl/run", json=other, headers=headers)
        runs = await etl_runs(s.emulator)
    assert first.status_code == 200
    assert (reused.status_code, reused.json()["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")
    assert runs == [first.json()["runId"]]


async def test_shutdown_answers_every_trigger_in_flight_and_each_key_makes_one_run():
    scenario = msgspec.structs.replace(Scenario.demo(), speed=SPEED)
    emulator_app = create_emulator_app(scenario, clock=ScaledClock(speed=SPEED))
    async with (
        running(emulator_app) as emulator_url,
        httpx.AsyncClient(base_url=emulator_url) as emulator,
    ):
        settings = fast_settings(emulator_url, shutdown_grace_ms=1000)
        for latency_ms, count in ((100, 2), (2500, 3)):  # two answer in time, three do not
            rule = {"endpoint": "run-now", "latency_ms": latency_ms, "count": count}
            assert (await emulator.post("/emulator/faults", json=rule)).status_code < 300
        draining = asyncio.Event()
        app = create_app(settings, draining=draining)
        async with (
            running(app, shutdown=draining, graceful_s=1.0) as url,
            httpx.AsyncClient(base_url=url, timeout=20) as api,
        ):
            triggers = [
                asyncio.create_task(api.post("/api/jobs/etl/run", json=PARAMS)) for _ in range(5)
            ]
            while (await emulator.get("/emulator/stats")).json()["calls"].get("run-now") != 5:
                await asyncio.sleep(0.01)
            draining.set()
            started = time.monotonic()
            answers = await asyncio.gather(*triggers)
        stopped_after = time.monotonic() - started
        unknown = [a for a in answers if a.status_code == 503]
        settings = fast_settings(emulator_url)
        async with running(create_app(settings)) as url, httpx.AsyncClient(base_url=url) as api:
            retried = [
                await api.post(
                    "/api/jobs/etl/run",
                    json=PARAMS,
                    headers={"Idempotency-Key": a.json()["idempotencyKey"]},
                )
                for a in unknown
            ]
    # The emulator has stopped: the three slow run-nows it held have been processed by now.
    runs = [r.run_id for r in emulator_state(emulator_app).runs.values()]
    assert [a.headers["content-type"] for a in answers] == ["application/json"] * 5
    assert sorted(a.status_code for a in answers) == [200, 200, 503, 503, 503]
    assert {a.json()["code"] for a in unknown} == {"OUTCOME_UNKNOWN"}
    assert all(a.headers["idempotency-key"] == a.json()["idempotencyKey"] for a in unknown)
    assert stopped_after < 1.5  # answered before Hypercorn's 1 s grace ran out, then exited
    answered = [a.json()["runId"] for a in answers if a.status_code == 200]
    assert sorted(answered + [r.json()["runId"] for r in retried]) == sorted(runs)
    assert len(runs) == 5


@pytest.mark.parametrize(
    "lost", [{"status": 503}, {"status": 429, "retry_after": 0}, {"drop": True}]
)
async def test_lost_run_now_response_makes_exactly_one_run(lost):
    async with stack() as s:
        await fault(s, endpoint="run-now", after_effect=True, **lost)
        response = await s.api.post(
            "/api/jobs/etl/run", json={"params": {"run_date": "2026-11-29"}}
        )
        assert response.status_code == 200
        runs = (await s.api.get("/api/jobs/etl/runs?limit=25")).json()["runs"]
        bodies = (await stats(s))["run_now_bodies"]
    assert [r["run_id"] for r in runs] == [response.json()["runId"]]
    assert len(bodies) == 2
    assert bodies[0]["idempotency_token"] == bodies[1]["idempotency_token"]


async def test_same_idempotency_key_twice_makes_one_run():
    async with stack() as s:
        first, second = [
            await s.api.post(
                "/api/jobs/etl/run",
                json={"params": {"run_date": "2026-11-29"}},
                headers={"Idempotency-Key": "order-17"},
            )
            for _ in range(2)
        ]
        runs = (await s.api.get("/api/jobs/etl/runs")).json()["runs"]
    assert first.json() == second.json()
    assert len(runs) == 1
