"""Ids over real sockets: a run id or a job id that is not a positive int64 is refused clearly."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from service.app import create_app
from service.emulator import Scenario, create_emulator_app
from tests.e2e.servers import etl_settings, running, start

pytestmark = pytest.mark.looptime(False)


@pytest.mark.parametrize("raw", ["\u0661\u0662", str(2**63), "9" * 400])
async def test_a_run_id_that_is_not_an_int64_is_a_400_and_names_the_rule(raw):
    async with running(create_emulator_app(Scenario.demo())) as emulator_url:
        app = create_app(etl_settings(emulator_url))
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
