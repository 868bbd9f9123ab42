"""examples/mounted_app.py as a process: a Starlette app under Hypercorn with the sidecar mounted at
/jobs, against the emulator on loopback; streams, links, the access mode and SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import msgspec
import pytest

from service.emulator import ScaledClock, Scenario, create_emulator_app
from service.emulator.scenario import DEFAULT_TOKEN
from tests.e2e.servers import SPEED, free_port, running, stop, wait_listening

pytestmark = pytest.mark.looptime(False)
ROOT = Path(__file__).resolve().parents[2]
BODY = {"params": {"run_date": "2026-11-29"}}


@asynccontextmanager
async def mounted_app(**environ: str) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """The example as a person runs it, against the demo scenario sped up; its base URL."""
    scenario = msgspec.structs.replace(Scenario.demo(), speed=SPEED)
    emulator = create_emulator_app(scenario, clock=ScaledClock(speed=SPEED))
    async with running(emulator) as emulator_url:
        port = free_port()
        env = {
            "PATH": os.environ["PATH"],
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "DATABRICKS_HOST": emulator_url,
            "DATABRICKS_TOKEN": DEFAULT_TOKEN,
            "JOBS_CONFIG": "config/demo.toml",
            **environ,
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable, "examples/mounted_app.py", cwd=ROOT, env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            await wait_listening(port)
            yield process, f"http://127.0.0.1:{port}"
        finally:
            await stop(process)


async def events(response: httpx.Response) -> AsyncIterator[tuple[str, dict[str, object]]]:
    """(event name, data) of each frame of an event stream, as they arrive."""
    name = "message"
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            yield name, json.loads(line.removeprefix("data: "))
            name = "message"


async def test_your_page_and_the_sidecar_below_jobs_are_served_together():
    async with mounted_app() as (_, url), httpx.AsyncClient(base_url=url) as client:
        home = await client.get("/")
        jobs = await client.get("/jobs/api/jobs")
        dashboard = await client.get("/jobs/")
        probe = await client.get("/jobs/readyz")
    assert "My app" in home.text
    assert "etl" in {job["key"] for job in jobs.json()["jobs"]}
    assert dashboard.headers["content-type"].startswith("text/html")
    assert probe.status_code == 200


async def test_a_run_triggered_below_jobs_streams_to_its_end_and_links_below_jobs():
    async with (
        mounted_app() as (_, url),
        httpx.AsyncClient(base_url=url, timeout=30) as client,
        client.stream("POST", "/jobs/api/jobs/etl/run?stream=true", json=BODY) as stream,
    ):
        frames = [frame async for frame in events(stream)]
        started = frames[0][1]
        watched = await client.get(str(started["watchUrl"]))
    assert frames[0][0] == "run"
    assert started["watchUrl"] == f"/jobs/api/jobs/etl/runs/{started['runId']}/events"
    assert frames[-1][1]["status"] == "TERMINATED"
    assert watched.status_code in (200, 204)  # the run's final event, or "you have it already"


async def test_in_apps_mode_the_proxy_names_the_caller_below_jobs_too():
    async with (
        mounted_app(ACCESS_MODE="apps") as (_, url),
        httpx.AsyncClient(base_url=url) as client,
    ):
        anonymous = await client.get("/jobs/api/jobs")
        named = await client.get("/jobs/api/jobs", headers={"X-Forwarded-Email": "a@example.com"})
        probe = await client.get("/jobs/livez")
    assert anonymous.status_code == 401
    assert named.status_code == 200
    assert probe.status_code == 200


async def test_sigterm_ends_open_streams_with_a_shutdown_event_and_exits_0():
    async with (
        mounted_app() as (process, url),
        httpx.AsyncClient(base_url=url, timeout=30) as client,
        client.stream("POST", "/jobs/api/jobs/flaky/run?stream=true", json={}) as stream,
    ):
        frames = events(stream)
        assert (await anext(frames))[0] == "run"
        process.send_signal(signal.SIGTERM)
        names = [name async for name, _ in frames]
        code = await asyncio.wait_for(process.wait(), 15)
    assert names[-1] == "shutdown"
    assert code == 0


async def test_without_an_access_mode_on_all_interfaces_it_exits_2_in_one_line():
    scenario_free = {"HOST": "0.0.0.0", "DATABRICKS_HOST": "http://127.0.0.1:9"}
    env = {
        "PATH": os.environ["PATH"],
        "DATABRICKS_TOKEN": DEFAULT_TOKEN,
        "DATABRICKS_JOB_ETL": "1001",
        **scenario_free,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "examples/mounted_app.py", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    assert err.decode().splitlines() == [err.decode().strip()]  # one line, no traceback
    assert "no access mode" in err.decode()
