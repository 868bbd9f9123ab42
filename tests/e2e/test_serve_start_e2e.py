"""`jobs-sidecar serve` as a process, against the emulator on loopback: what start-up tells you."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.emulator import Scenario, create_emulator_app
from tests.e2e.servers import free_port, running

pytestmark = pytest.mark.looptime(False)
ROOT = Path(__file__).resolve().parents[2]


@asynccontextmanager
async def serve(environ: dict[str, str]) -> AsyncIterator[tuple[str, list[dict[str, Any]], Any]]:
    """`python -m service serve` with `environ`; yield its URL, the lines so far, and a reader."""
    port = free_port()
    env = {"PATH": os.environ["PATH"], "HOST": "127.0.0.1", "PORT": str(port), **environ}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "service", "serve", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    lines: list[dict[str, Any]] = []

    async def until(event: str) -> dict[str, Any]:
        """Read the log (JSON lines on stderr) until `event`; fail after 20 s without it."""
        assert process.stderr is not None
        while True:
            raw = await asyncio.wait_for(process.stderr.readline(), 20)
            assert raw, f"serve exited before logging {event}: {lines}"
            lines.append(json.loads(raw))
            if lines[-1]["event"] == event:
                return lines[-1]

    try:
        yield f"http://127.0.0.1:{port}", lines, until
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 20)


async def test_refused_credentials_and_no_jobs_are_warned_at_start_and_serving_goes_on():
    async with running(create_emulator_app(Scenario.demo())) as emulator:
        environ = {"DATABRICKS_HOST": emulator, "DATABRICKS_TOKEN": "dapi-revoked"}
        async with serve(environ) as (url, lines, until):
            warning = await until("startup.credentials_unverified")
            async with httpx.AsyncClient(base_url=url) as client:
                ready = await client.get("/readyz")
    assert warning["level"] == "warning"
    assert warning["reason"] == (
        "Databricks refused the credentials (HTTP 403): check DATABRICKS_TOKEN"
    )
    no_jobs = [line for line in lines if line["event"] == "config.warning"]
    assert no_jobs[0]["message"].startswith("no jobs are configured")
    assert ready.status_code == 200
    assert "dapi-revoked" not in json.dumps(lines)


async def test_an_unreachable_workspace_is_warned_at_start():
    closed = free_port()  # nothing listens here
    environ = {
        "DATABRICKS_HOST": f"http://127.0.0.1:{closed}",
        "DATABRICKS_TOKEN": "dapi-local-dev",
        "DATABRICKS_JOB_ETL": "1001",
    }
    async with serve(environ) as (_url, _lines, until):
        warning = await until("startup.credentials_unverified")
    assert warning["reason"] == "Databricks is unreachable at DATABRICKS_HOST (ConnectError)"


async def test_accepted_credentials_are_confirmed_at_start():
    async with running(create_emulator_app(Scenario.demo())) as emulator:
        environ = {
            "DATABRICKS_HOST": emulator,
            "DATABRICKS_TOKEN": "dapi-local-dev",
            "DATABRICKS_JOB_ETL": "1001",
        }
        async with serve(environ) as (_url, lines, until):
            await until("startup.credentials_ok")
    assert not [line for line in lines if line["level"] == "warning"]


async def test_a_job_id_the_workspace_does_not_know_is_warned_at_start_naming_key_and_id():
    async with running(create_emulator_app(Scenario.demo())) as emulator:
        environ = {
            "DATABRICKS_HOST": emulator,
            "DATABRICKS_TOKEN": "dapi-local-dev",
            "DATABRICKS_JOB_ETL": "1001",
            "DATABRICKS_JOB_GHOST": "424242",
        }
        async with serve(environ) as (url, _lines, until):
            warning = await until("startup.job_unverified")
            async with httpx.AsyncClient(base_url=url) as client:
                ready = await client.get("/readyz")
    assert (warning["level"], warning["job"], warning["job_id"]) == ("warning", "ghost", 424242)
    assert warning["reason"] == (
        "Databricks has no job 424242 (configured as ghost): check the job id in [jobs.ghost] "
        "or in DATABRICKS_JOB_GHOST"
    )
    assert ready.status_code == 200
