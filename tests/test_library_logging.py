"""The Python API in a host program: it never configures logging, and never writes to stdout.

Each case runs a small host program in a process of its own (structlog's configuration is
process-wide), with the emulator app as the upstream transport.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOST_PROGRAM = """
import asyncio, logging, httpx
{setup}
from service.config import load_settings
from service.emulator import ManualClock, Scenario, create_emulator_app
from service.jobs import Jobs

async def main():
    upstream = httpx.ASGITransport(create_emulator_app(Scenario.demo(), clock=ManualClock()))
    environ = {{"DATABRICKS_HOST": "http://emulator.test", "DATABRICKS_TOKEN": "dapi-local-dev",
               "DATABRICKS_JOB_ETL": "1001"}}
    async with Jobs.open(load_settings(environ), transport=upstream) as jobs:
        result = await jobs("etl").get_job()
    print("job", result.data["job_id"])

asyncio.run(main())
"""


def host(setup: str = "") -> subprocess.CompletedProcess[str]:
    program = textwrap.dedent(HOST_PROGRAM).format(setup=setup)
    return subprocess.run(  # noqa: S603 - our own interpreter, our own program text
        [sys.executable, "-c", program],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_host_that_configures_nothing_sees_only_its_own_output():
    done = host()
    assert done.returncode == 0, done.stderr
    assert done.stdout == "job 1001\n"  # no "[debug] upstream.request" line
    assert done.stderr == ""


def test_a_host_that_configures_stdlib_logging_gets_our_lines_there():
    done = host("logging.basicConfig(level=logging.DEBUG, format='%(name)s %(message)s')")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "job 1001\n"
    assert "service.upstream event=upstream.request" in done.stderr
    assert "verb=get" in done.stderr
