"""`jobs-sidecar dev` (make run) as a process: the emulator with the demo's jobs, and the service
with config/demo.toml, or with the config that `--config` or JOBS_CONFIG names."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from service.emulator.scenario import DEFAULT_TOKEN
from tests.e2e.servers import free_port, stop, wait_listening

pytestmark = pytest.mark.looptime(False)
ROOT = Path(__file__).resolve().parents[2]
# A config of one's own, as README's CORS and access recipes write: a job of the demo's ids.
MINE = """
[access]
cors_origins = ["https://app.example.com"]
[jobs.mine]
job_id = 1001
task_type = "job"
"""
DEMO_KEYS = ["etl", "wheel", "script", "jar", "report", "dbt", "pipeline", "flaky"]


@asynccontextmanager
async def dev(*args: str, **environ: str) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """`python -m service dev <args>` on free ports: a client on the service, the emulator URL."""
    port, emulator_port = free_port(), free_port()
    env = {
        "PATH": os.environ["PATH"],
        "PORT": str(port),
        "EMULATOR_PORT": str(emulator_port),
        **environ,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "service", "dev", *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        await wait_listening(port, within_s=20)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            yield client, f"http://127.0.0.1:{emulator_port}"
    finally:
        await stop(process)


async def job_keys(client: httpx.AsyncClient) -> list[str]:
    response = await client.get("/api/jobs")
    assert response.status_code == 200, response.text
    return [job["key"] for job in response.json()["jobs"]]


@pytest.mark.parametrize("how", ["--config", "JOBS_CONFIG"])
async def test_dev_serves_the_config_it_is_given(tmp_path, how):
    config = tmp_path / "mine.toml"
    config.write_text(MINE)
    args = ("--config", str(config)) if how == "--config" else ()
    environ = {"JOBS_CONFIG": str(config)} if how == "JOBS_CONFIG" else {}
    async with dev(*args, **environ) as (client, _):
        keys = await job_keys(client)
        preflight = await client.options(
            "/api/jobs/mine/run",
            headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"},
        )
        started = await client.post("/api/jobs/mine/run", json={})
    assert keys == ["mine"]
    assert preflight.headers["access-control-allow-origin"] == "https://app.example.com"
    assert started.status_code == 200, started.text  # the emulator's job 1001


async def test_dev_without_a_config_serves_the_demo_jobs():
    async with dev() as (client, _):
        keys = await job_keys(client)
    assert keys == DEMO_KEYS


async def test_the_emulator_serves_the_demo_jobs_whatever_the_config(tmp_path):
    config = tmp_path / "mine.toml"
    config.write_text(MINE)
    async with (
        dev("--config", str(config)) as (_, emulator_url),
        httpx.AsyncClient(
            base_url=emulator_url, headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"}
        ) as emulator,
    ):
        listed = await emulator.get("/api/2.1/jobs/list", params={"limit": 100})
    assert listed.status_code == 200
    names = {job["settings"]["name"] for job in listed.json()["jobs"]}
    assert {"nightly-sales-etl", "flaky-pipeline"} <= names
