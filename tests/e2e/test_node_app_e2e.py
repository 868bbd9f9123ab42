"""examples/node-app beside the sidecar, started by its app.yaml command as Databricks Apps starts
it: one port for the Node app, the sidecar on loopback behind it, against the emulator.

Skipped without `node` on PATH (Debian's nodejs package); the Node app uses node:http only.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import httpx
import msgspec
import pytest
import yaml

from service.emulator import ScaledClock, Scenario, create_emulator_app
from tests.e2e.servers import SPEED, free_port, running, stage_app, wait_listening

pytestmark = pytest.mark.looptime(False)
if shutil.which("node") is None:
    pytest.skip("no node on PATH (apt-get install nodejs)", allow_module_level=True)
ROOT = Path(__file__).resolve().parents[2]
NODE_APP = ROOT / "examples" / "node-app"
USER = {"X-Forwarded-Email": "ada@example.com"}  # what the Apps proxy adds for a signed-in user


class NodeApp(msgspec.Struct):
    process: asyncio.subprocess.Process
    url: str
    sidecar_port: int


@asynccontextmanager
async def node_app(tmp_path: Path) -> AsyncIterator[NodeApp]:
    source = tmp_path / "app"
    source.mkdir()
    for name in ("server.js", "package.json", "app.yaml"):
        shutil.copyfile(NODE_APP / name, source / name)
    stage_app(source, "--no-app-yaml")  # the sidecar into your app's source
    app_yaml = yaml.safe_load((source / "app.yaml").read_text())
    scenario = msgspec.structs.replace(Scenario.demo(), speed=SPEED)
    emulator = create_emulator_app(scenario, clock=ScaledClock(speed=SPEED))
    async with running(emulator) as emulator_url:
        port, sidecar_port = free_port(), free_port()
        resources = {"etl-job": "1001"}
        env = {
            # `python` is this venv's: the runtime itself is tested in test_databricks_app_e2e.
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
            "SIDECAR_PORT": str(sidecar_port),  # the sample's 8001, moved to a free port
            "DATABRICKS_HOST": emulator_url,
            "DATABRICKS_APP_PORT": str(port),
            "DATABRICKS_CLIENT_ID": "local-client",
            "DATABRICKS_CLIENT_SECRET": "local-secret",
            **{entry["name"]: resources[entry["valueFrom"]] for entry in app_yaml["env"]},
        }
        process = await asyncio.create_subprocess_exec(
            *app_yaml["command"], cwd=source, env=env, start_new_session=True,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        try:
            await wait_listening(port, within_s=30)
            await wait_listening(sidecar_port, within_s=30)
            yield NodeApp(process, f"http://127.0.0.1:{port}", sidecar_port)
        finally:
            # The command's process group: the Node app and the sidecar it started beside it.
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            await asyncio.wait_for(process.wait(), 15)


async def test_the_node_app_serves_its_pages_and_passes_api_jobs_to_the_sidecar(tmp_path):
    async with node_app(tmp_path) as app, httpx.AsyncClient(base_url=app.url) as client:
        page = await client.get("/")
        anonymous = await client.get("/api/jobs")
        jobs = await client.get("/api/jobs", headers=USER)
        runs = await client.get("/api/jobs/etl/runs?limit=1", headers=USER)
    assert "My app" in page.text
    assert anonymous.status_code == 401  # apps mode: only the proxy's word names a caller
    assert [job["key"] for job in jobs.json()["jobs"]] == ["etl"]
    assert runs.status_code == 200


async def test_an_event_stream_flows_through_the_node_app_to_the_runs_end(tmp_path):
    async with (
        node_app(tmp_path) as app,
        httpx.AsyncClient(base_url=app.url, timeout=30, headers=USER) as client,
        client.stream("POST", "/api/jobs/etl/run?stream=true", json={}) as stream,
    ):
        data = [
            json.loads(line.removeprefix("data: "))
            async for line in stream.aiter_lines()
            if line.startswith("data: ")
        ]
    assert "runId" in data[0]
    assert data[-1]["status"] == "TERMINATED"


async def test_the_sidecar_listens_on_loopback_only_and_not_on_the_apps_port(tmp_path):
    async with node_app(tmp_path) as app, httpx.AsyncClient() as client:
        direct = await client.get(f"http://127.0.0.1:{app.sidecar_port}/livez")
        through_node = await client.get(f"{app.url}/livez")
    assert direct.status_code == 200
    assert "My app" in through_node.text  # the Apps port is the Node app's
