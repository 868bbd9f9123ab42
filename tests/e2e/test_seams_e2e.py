"""Over real sockets: a Retry-After date read on the injected clock, and one id check."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from service.app import create_app
from service.clock import LoopClock
from service.config import load_settings
from service.emulator import Scenario, create_emulator_app
from service.emulator.scenario import DEFAULT_TOKEN
from tests.e2e.servers import running
from tests.e2e.test_settings_file_e2e import start

pytestmark = pytest.mark.looptime(False)
DATE = "Wed, 21 Oct 2015 07:28:30 GMT"


class StoppedWallClock(LoopClock):
    """The wall clock stands 30 s before `DATE`."""

    def wall_ms(self) -> int:
        return 1_445_412_480_000


def settings(url: str) -> object:
    return load_settings(
        {
            "DATABRICKS_HOST": url,
            "DATABRICKS_TOKEN": DEFAULT_TOKEN,
            "DATABRICKS_JOB_ETL": "1001",
            "HOST": "127.0.0.1",
        }
    )


async def test_a_throttled_upstream_s_date_reaches_the_client_as_seconds_left():
    seen: list[str] = []

    async def throttled(request):  # a workspace proxy that answers with an HTTP date
        seen.append(request.url.path)
        return JSONResponse({}, status_code=429, headers={"Retry-After": DATE})

    upstream = Starlette(routes=[Route("/api/2.1/jobs/runs/get", throttled)])
    async with running(upstream) as upstream_url:
        app = create_app(settings(upstream_url), clock=StoppedWallClock())
        async with running(app) as url, httpx.AsyncClient(base_url=url, timeout=60) as client:
            response = await client.get("/api/jobs/etl/runs/555")
    assert seen  # it did reach the upstream
    assert response.status_code == 503
    assert response.json()["code"] == "UPSTREAM_THROTTLED"
    assert response.headers["retry-after"] == "30"


@pytest.mark.parametrize("raw", ["\u0661\u0662", str(2**63), "9" * 400])
async def test_a_run_id_that_is_not_an_int64_is_a_400_and_names_the_rule(raw):
    async with running(create_emulator_app(Scenario.demo())) as emulator_url:
        app = create_app(settings(emulator_url))
        async with running(app) as url, httpx.AsyncClient(base_url=url) as client:
            response = await client.get(f"/api/jobs/etl/runs/{raw}")
    assert response.status_code == 400
    assert response.json() == {
        "error": "Invalid runId: expected a positive integer",
        "code": "BAD_REQUEST",
        "plugin": "jobs",
    }


@pytest.mark.parametrize("job_id", ["\u00b2", "9" * 5000])
async def test_serve_stops_with_one_line_on_a_job_id_int_cannot_read(tmp_path, job_id):
    config = tmp_path / "jobs.toml"
    config.write_text(f'[jobs.etl]\njob_id = "{job_id}"\n')
    process, _ = await start("http://127.0.0.1:9", config)
    _, err = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 2
    assert err.decode().splitlines() == [
        f"configuration error: job 'etl': job_id must be a positive integer, got {job_id!r}"
    ]
