"""The emulator on its own: importable and servable with the rest of `service` unimportable."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.looptime(False)
ROOT = Path(__file__).resolve().parents[2]
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
