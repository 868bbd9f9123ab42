"""The emulator on its own: importable and servable with the rest of `service` unimportable."""

from __future__ import annotations

import asyncio
import signal
import sys
from contextlib import suppress
from pathlib import Path

import httpx
import pytest

from tests.e2e.servers import free_port, wait_listening

pytestmark = pytest.mark.looptime(False)
ROOT = Path(__file__).resolve().parents[2]
TOKEN = "dapi-local-dev"  # config/emulator.toml's demo token
# Run first in the child: any `service.` module outside service.emulator fails to import.
BLOCK_THE_SERVICE = """
import importlib.abc, sys

class BlockTheService(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        inside = name in ("service", "service.emulator") or name.startswith("service.emulator.")
        if name.startswith("service") and not inside:
            raise ImportError(f"blocked outside the emulator: {name}")
        return None

sys.meta_path.insert(0, BlockTheService())
"""
IN_PROCESS = """
import asyncio, httpx
from service.emulator import create_emulator_app, load_scenario

async def main():
    app = create_emulator_app(load_scenario("config/emulator.toml"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://workspace.test") as client:
        reply = await client.post(
            "/api/2.2/jobs/run-now",
            headers={"Authorization": "Bearer dapi-local-dev"},
            json={"job_id": 1001, "python_params": ["a"], "queue": {"enabled": True}},
        )
    print(reply.status_code, sorted(reply.json()))
    print(sorted(name for name in sys.modules if name.startswith("service")))

import sys
asyncio.run(main())
"""


async def _python(code: str, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        BLOCK_THE_SERVICE + code,
        *args,
        cwd=ROOT,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_the_emulator_imports_and_answers_without_the_service() -> None:
    child = await _python(IN_PROCESS)
    out, err = await asyncio.wait_for(child.communicate(), 30)

    assert child.returncode == 0, err.decode()[-2000:]
    status, modules = out.decode().splitlines()
    assert status == "200 ['number_in_job', 'run_id']"
    loaded = eval(modules)  # noqa: S307 - a list of names our own child printed
    assert all(name == "service" or name.startswith("service.emulator") for name in loaded)


async def test_python_m_service_emulator_serves_over_a_socket_without_the_service() -> None:
    port = free_port()
    run_module = (
        "import runpy\n"
        "sys.argv = ['service.emulator', *sys.argv[1:]]\n"
        "runpy.run_module('service.emulator', run_name='__main__', alter_sys=True)\n"
    )
    child = await _python(run_module, "--host", "127.0.0.1", "--port", str(port))
    try:
        await wait_listening(port, within_s=20)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {TOKEN}"}
        ) as client:
            started = await client.post("/api/2.2/jobs/run-now", json={"job_id": 1001})
            run_id = started.json()["run_id"]
            run = await client.get("/api/2.2/jobs/runs/get", params={"run_id": run_id})
            refused = await client.post(
                "/api/2.2/jobs/run-now",
                json={"job_id": 1001, "jar_params": ["x"], "notebook_params": {"a": "b"}},
            )
    finally:
        with suppress(ProcessLookupError):
            child.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(child.communicate(), 30)

    assert started.status_code == 200
    assert run.status_code == 200
    assert run.json()["run_id"] == run_id
    assert run.json()["job_id"] == 1001
    assert refused.status_code == 400
    assert refused.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert child.returncode == 0, err.decode()[-2000:]
    assert "blocked" not in err.decode()
