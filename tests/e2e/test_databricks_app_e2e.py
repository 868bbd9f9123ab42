"""The staged Databricks App started as Apps starts it, against the emulator on loopback.

What Apps does, done here: `make app-bundle`'s script stages the source; the runtime holds
exactly the distributions requirements.txt pins (linked from this venv: nothing is downloaded)
and a bare interpreter (no site-packages, so not this project's own install); app.yaml's command
runs in the staged folder with app.yaml's environment, each `valueFrom` resolved as the bundle's
resources resolve it, beside the variables Apps itself sets.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import re
import sys
import tomllib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import msgspec
import pytest
import yaml
from packaging.markers import Marker

from service.emulator import ScaledClock, Scenario, create_emulator_app
from tests.e2e.servers import SPEED, free_port, running, stage_app, stop, wait_listening

pytestmark = pytest.mark.looptime(False)
ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "deploy" / "databricks-app"
USER = {"X-Forwarded-Email": "ada@example.com"}  # what the Apps proxy adds for a signed-in user


def runtime(tmp_path: Path) -> dict[str, str]:
    """PATH and PYTHONPATH of an Apps-like runtime: `python` is the bare interpreter, and the
    importable distributions are exactly those requirements.txt pins, at the pinned versions."""
    site = tmp_path / "site-packages"
    site.mkdir()
    text = (APP / "requirements.txt").read_text()
    for name, version, marker in re.findall(
        r"^([\w.\-]+)==([^\s;]+)(?: ; ([^\\\n]+))?", text, re.M
    ):
        if marker and not Marker(marker.strip()).evaluate():
            continue
        dist = importlib.metadata.distribution(name)
        assert dist.version == version, f"{name}: this venv is not the lock's"
        tops = {Path(str(f)).parts[0] for f in dist.files or () if ".." not in Path(str(f)).parts}
        for top in tops - {"__pycache__"}:
            link = site / top
            if not link.exists():
                link.symlink_to(Path(str(dist.locate_file(top))))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    python = bin_dir / "python"
    interpreter = (
        Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    )
    python.write_text(f'#!/bin/sh\nexec "{interpreter}" -S "$@"\n')  # -S: no site-packages
    python.chmod(0o755)
    return {"PATH": f"{bin_dir}:/usr/bin:/bin", "PYTHONPATH": str(site)}


@asynccontextmanager
async def databricks_app(tmp_path: Path) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    scenario = msgspec.structs.replace(Scenario.demo(), speed=SPEED)
    emulator = create_emulator_app(scenario, clock=ScaledClock(speed=SPEED))
    source = tmp_path / "app"
    stage_app(source)
    app_yaml = yaml.safe_load((source / "app.yaml").read_text())
    async with running(emulator) as emulator_url:
        port = free_port()
        # The bundle's resources, as Apps resolves them: the job's id, the secret's value.
        resources = {"etl-job": "1001", "redis-url": f"redis://127.0.0.1:{free_port()}/0"}
        env = {
            **runtime(tmp_path),
            # Set by Databricks Apps in every app.
            "DATABRICKS_APP_NAME": "jobs-sidecar",
            "DATABRICKS_WORKSPACE_ID": str(scenario.workspace_id),
            "DATABRICKS_HOST": emulator_url,
            "DATABRICKS_APP_PORT": str(port),
            "DATABRICKS_CLIENT_ID": "local-client",
            "DATABRICKS_CLIENT_SECRET": "local-secret",
            **{
                entry["name"]: entry["value"] if "value" in entry else resources[entry["valueFrom"]]
                for entry in app_yaml["env"]
            },
        }
        process = await asyncio.create_subprocess_exec(
            *app_yaml["command"], cwd=source, env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            await wait_listening(port, within_s=30)
            yield process, f"http://127.0.0.1:{port}"
        finally:
            await stop(process)


async def test_the_staged_app_serves_the_job_its_resource_names_to_the_user_the_proxy_names(
    tmp_path,
):
    async with (
        databricks_app(tmp_path) as (_, url),
        httpx.AsyncClient(base_url=url, timeout=30) as client,
    ):
        anonymous = await client.get("/api/jobs")
        jobs = await client.get("/api/jobs", headers=USER)
        ready = await client.get("/readyz")
    assert anonymous.status_code == 401  # apps mode: DATABRICKS_APP_PORT is set
    assert [job["key"] for job in jobs.json()["jobs"]] == ["etl"]  # DATABRICKS_JOB_ETL
    assert ready.json()["redis"] == "down"  # REDIS_URL came through from the secret


async def test_a_run_started_in_the_staged_app_streams_to_its_end(tmp_path):
    async with (
        databricks_app(tmp_path) as (_, url),
        httpx.AsyncClient(base_url=url, timeout=30, headers=USER) as client,
        client.stream("POST", "/api/jobs/etl/run?stream=true", json={}) as stream,
    ):
        data = [
            json.loads(line.removeprefix("data: "))
            async for line in stream.aiter_lines()
            if line.startswith("data: ")
        ]
    assert "runId" in data[0]
    assert data[-1]["status"] == "TERMINATED"


async def test_the_staged_package_carries_its_files_and_its_version(tmp_path):
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    async with (
        databricks_app(tmp_path) as (_, url),
        httpx.AsyncClient(base_url=url, timeout=30, headers=USER) as client,
    ):
        page = await client.get("/")
        document = await client.get("/openapi.json")
    assert page.headers["content-type"].startswith("text/html")
    assert document.json()["info"]["version"] == version  # importlib.metadata found it


async def test_the_staged_app_stops_on_sigterm_with_exit_0(tmp_path):
    async with databricks_app(tmp_path) as (process, _):
        await stop(process)
        assert process.returncode == 0
