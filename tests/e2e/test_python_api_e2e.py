"""Over real sockets: the Python API against the emulator on Hypercorn."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from service.emulator import ScaledClock, Scenario, create_emulator_app
from service.errors import RunFailed
from service.jobs import Jobs
from tests.e2e.servers import SPEED, fast_settings, running

pytestmark = pytest.mark.looptime(False)


async def test_run_and_wait_raises_run_failed_for_a_failing_run():
    scenario = msgspec.structs.replace(Scenario.demo(), speed=SPEED)
    emulator = create_emulator_app(scenario, clock=ScaledClock(speed=SPEED))
    seen = []
    async with running(emulator) as url, Jobs.open(fast_settings(url)) as jobs:
        with pytest.raises(RunFailed) as caught:
            await collect(jobs("flaky").run_and_wait(), into=seen)
    assert seen[-1] == "INTERNAL_ERROR"  # a multi-task run whose task failed, as Databricks says
    assert caught.value.result_state == "FAILED"
    assert caught.value.run["run_id"] == caught.value.run_id
    assert [t["state"]["result_state"] for t in caught.value.run["tasks"]] == [
        "SUCCESS",
        "FAILED",
        "UPSTREAM_FAILED",
    ]


async def collect(statuses, *, into):
    """Drain a run_and_wait, keeping each status, until it returns or raises."""
    async for status in statuses:
        into.append(status.status)


async def test_python_api_run_and_wait_against_the_emulator():
    scenario = msgspec.structs.replace(Scenario.demo(), speed=SPEED)
    emulator = create_emulator_app(scenario, clock=ScaledClock(speed=SPEED))
    async with running(emulator) as url, Jobs.open(fast_settings(url)) as jobs:
        seen = [s.status async for s in jobs("etl").run_and_wait({"run_date": "2026-11-29"})]
        last = await jobs("etl").last_run()
    assert seen[-1] == "TERMINATED"
    assert last.ok
    assert last.data["state"]["result_state"] == "SUCCESS"


async def test_python_api_repairs_a_failed_run_reruns_it_and_lists_every_jobs_runs():
    scenario = msgspec.structs.replace(Scenario.demo(), speed=SPEED)
    emulator = create_emulator_app(scenario, clock=ScaledClock(speed=SPEED))
    async with running(emulator) as url, Jobs.open(fast_settings(url)) as jobs:
        with pytest.raises(RunFailed) as caught:
            await collect(jobs("flaky").run_and_wait(), into=[])
        run_id = caught.value.run_id
        repaired = await jobs("flaky").repair(run_id, idempotency_key="fix-1")
        again = await jobs("flaky").repair(run_id, idempotency_key="fix-1")
        result = None
        while result is None:
            run = (await jobs("flaky").get_run(run_id)).data or {}
            result = run["state"].get("result_state")
            await asyncio.sleep(0.05)
        rerun = await jobs("flaky").rerun(run_id)
        every = await jobs.runs(limit=5)
        cancelled = await jobs("flaky").cancel_all()
    assert repaired.data == again.data
    assert repaired.data is not None
    assert set(repaired.data) == {"run_id", "repair_id"}
    assert result == "SUCCESS"
    assert rerun.data is not None
    assert [(r["jobKey"], r["run_id"]) for r in every.data or []] == [
        ("flaky", rerun.data["run_id"]),
        ("flaky", run_id),
    ]
    assert cancelled.ok
