"""A settings file read by `serve` as a process: its values reach the socket, a misfit stops it."""

from __future__ import annotations

import asyncio
import signal

import httpx
import pytest

from service.emulator import Scenario, create_emulator_app
from service.emulator.scenario import DEFAULT_TOKEN
from tests.e2e.servers import running, start, wait_listening

pytestmark = pytest.mark.looptime(False)
TOKEN = DEFAULT_TOKEN
TOML = """
max_body_bytes = 1024

[jobs.etl]
job_id = 1001
task_type = "job"
wait_timeout_ms = 5000

[jobs.etl.params]
run_date = "date"
"""


async def test_the_decoded_file_is_what_serves(tmp_path):
    config = tmp_path / "jobs.toml"
    config.write_text(TOML)
    async with running(create_emulator_app(Scenario.demo())) as emulator:
        process, url = await start(emulator, config)
        try:
            await wait_listening(int(url.rsplit(":", 1)[1]), within_s=20)
            async with httpx.AsyncClient(base_url=url) as client:
                big = await client.post("/api/jobs/etl/run", content=b"{" + b" " * 2048 + b"}")
                run = await client.post(
                    "/api/jobs/etl/run", json={"params": {"run_date": "2026-11-29"}}
                )
                misfit = await client.post("/api/jobs/etl/run", json={"params": {"day": 1}})
            async with httpx.AsyncClient(base_url=emulator) as upstream:
                got = await upstream.get(
                    "/api/2.1/jobs/runs/get",
                    params={"run_id": run.json()["runId"]},
                    headers={"Authorization": f"Bearer {TOKEN}"},
                )
        finally:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), 20)
    assert (big.status_code, big.json()["plugin"]) == (413, "jobs")
    assert run.status_code == 200
    assert got.json()["job_id"] == 1001, got.text
    sent = {p["name"]: p["value"] for p in got.json()["job_parameters"]}
    assert sent["run_date"] == "2026-11-29"
    assert misfit.status_code == 400


async def test_a_misfit_in_the_file_stops_serve_with_one_line_naming_it(tmp_path):
    config = tmp_path / "jobs.toml"
    config.write_text("[jobs.etl]\njob_id = 1001\nwait_timeout_ms = 0\n")
    process, _ = await start("http://127.0.0.1:9", config)
    _, err = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 2
    assert err.decode().splitlines() == [
        f"configuration error: {config}: Expected `int` >= 1 - at `$.jobs.etl.wait_timeout_ms` "
        "(wait_timeout_ms: how long run-and-wait waits for the run to end (watches: no limit))"
    ]
