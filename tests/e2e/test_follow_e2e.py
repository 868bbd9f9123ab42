"""Over real sockets: how following a run ends, the same for an SSE client and a Python caller."""

from __future__ import annotations

import json
from typing import Any

import httpx
import msgspec
import pytest

from service.app import create_app
from service.basics.errors import SidecarError, WaitTimeout
from service.emulator import ScaledClock, Scenario, create_emulator_app
from service.python_api import Jobs
from tests.e2e.servers import fast_settings, running
from tests.factories import sse_events

pytestmark = pytest.mark.looptime(False)
PARAMS = {"params": {"run_date": "2026-01-01"}}


def emulator_app(speed: float) -> Any:
    scenario = msgspec.structs.replace(Scenario.demo(), speed=speed)
    return create_emulator_app(scenario, clock=ScaledClock(speed=speed))


def with_wait_timeout(settings: Any, ms: int) -> Any:
    etl = msgspec.structs.replace(settings.jobs["etl"], wait_timeout_ms=ms)
    return msgspec.structs.replace(settings, jobs={**settings.jobs, "etl": etl})


async def test_a_run_outlasting_the_wait_timeout_ends_both_ways_with_wait_timeout():
    # At real speed a demo run takes seconds; the wait allows 300 ms.
    async with running(emulator_app(speed=1.0)) as emulator_url:
        settings = with_wait_timeout(fast_settings(emulator_url), 300)
        async with (
            running(create_app(settings)) as url,
            httpx.AsyncClient(base_url=url, timeout=20) as api,
        ):
            response = await api.post("/api/jobs/etl/run?stream=true", json=PARAMS)
        async with Jobs.open(settings) as jobs:
            with pytest.raises(WaitTimeout) as caught:
                async for _ in jobs("etl").run_and_wait(PARAMS["params"]):
                    pass
    events = sse_events(response.text)
    run_id = json.loads(events[0]["data"])["runId"]
    assert (events[-1]["event"], json.loads(events[-1]["data"])) == (
        "error",
        {
            "error": f"Run {run_id} did not finish within 300 ms",
            "code": "WAIT_TIMEOUT",
            "plugin": "jobs",
        },
    )
    error = caught.value
    assert (error.code, error.message) == (
        "WAIT_TIMEOUT",
        f"Run {error.run_id} did not finish within 300 ms",
    )


async def test_polls_failing_for_good_end_both_ways_with_the_same_error():
    async with running(emulator_app(speed=40.0)) as emulator_url:
        settings = fast_settings(emulator_url)
        async with (
            running(create_app(settings)) as url,
            httpx.AsyncClient(base_url=url, timeout=20) as api,
            httpx.AsyncClient(base_url=emulator_url) as emulator,
        ):
            rule = {"endpoint": "runs/get", "status": 503, "count": 1000}
            assert (await emulator.post("/emulator/faults", json=rule)).status_code < 300
            response = await api.post("/api/jobs/etl/run?stream=true", json=PARAMS)
            async with Jobs.open(settings) as jobs:
                with pytest.raises(SidecarError) as caught:
                    async for _ in jobs("etl").run_and_wait(PARAMS["params"]):
                        pass
    last = sse_events(response.text)[-1]
    assert (last["event"], json.loads(last["data"])) == (
        "error",
        {"error": "Databricks is unavailable", "code": "UPSTREAM_UNAVAILABLE", "plugin": "jobs"},
    )
    error = caught.value
    assert (error.code, error.message) == ("UPSTREAM_UNAVAILABLE", "Databricks is unavailable")
    assert error.run_id is not None  # the run exists: watch or cancel it, do not re-trigger
