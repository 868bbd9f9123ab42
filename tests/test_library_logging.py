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
    {wrap}
    environ = {{"DATABRICKS_HOST": "http://emulator.test", "DATABRICKS_TOKEN": "dapi-local-dev",
               "DATABRICKS_JOB_ETL": "1001"}}
    async with Jobs.open(load_settings(environ), transport=upstream) as jobs:
        result = await jobs("etl").get_job()
    print("job", result.data["job_id"])

asyncio.run(main())
"""


# The first call answers 503, so the retry policy schedules (and logs) a retry.
FLAKY = """
import httpx
class Flaky(httpx.AsyncBaseTransport):
    def __init__(self, inner):
        self.inner, self.calls = inner, 0
    async def handle_async_request(self, request):
        self.calls += 1
        if self.calls == 1:
            return httpx.Response(503, json={"error_code": "TEMPORARILY_UNAVAILABLE"})
        return await self.inner.handle_async_request(request)
"""


def host(setup: str = "", *, flaky: bool = False) -> subprocess.CompletedProcess[str]:
    wrap = "upstream = Flaky(upstream)" if flaky else ""
    program = textwrap.dedent(HOST_PROGRAM).format(setup=setup, wrap=wrap)
    if flaky:
        program = FLAKY + program
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


def test_a_retried_call_writes_nothing_to_a_host_that_configures_nothing():
    done = host(flaky=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "job 1001\n"  # no retry line, no request line
    # The failed attempt is a warning, which the stdlib's last resort writes to stderr; stamina's
    # own retry line ("<context block>") is not written anywhere.
    assert "stamina" not in done.stderr
    assert "event=upstream.request_failed" in done.stderr
