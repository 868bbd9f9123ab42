"""The scripts in examples/ run as written, against the emulator and the service on loopback."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import msgspec
import pytest

from service.app import create_app
from service.basics.secret import Secret
from service.emulator import ScaledClock, Scenario, create_emulator_app
from service.settings.api_keys import ApiKey
from tests.e2e.servers import SPEED, fast_settings, running

pytestmark = pytest.mark.looptime(False)
ROOT = Path(__file__).resolve().parents[2]


async def example(name: str, *args: str, **environ: str) -> tuple[int, str, str]:
    """Run examples/<name> as a user would, from the checkout; its exit code, stdout, stderr."""
    env = {"PATH": os.environ["PATH"], "JOBS_CONFIG": "config/demo.toml", **environ}
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "examples" / name), *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def emulator_app():
    scenario = msgspec.structs.replace(Scenario.demo(), speed=SPEED)
    return create_emulator_app(scenario, clock=ScaledClock(speed=SPEED))


def workspace(url: str) -> dict[str, str]:
    return {"DATABRICKS_HOST": url, "DATABRICKS_TOKEN": "dapi-local-dev"}


async def test_run_and_wait_prints_each_state_and_nothing_else():
    async with running(emulator_app()) as url:
        code, out, err = await example("run_and_wait.py", "etl", "2026-11-29", **workspace(url))
    assert code == 0, err
    states = [line.split()[0] for line in out.splitlines()]
    assert states[-1] == "TERMINATED"
    assert all(line.split()[1].startswith(url) for line in out.splitlines())  # run_page_url
    assert err == ""  # the library configured no logging of its own


async def test_run_and_wait_exits_1_when_the_run_fails():
    async with running(emulator_app()) as url:
        code, out, err = await example("run_and_wait.py", "flaky", **workspace(url))
    assert code == 1, err
    assert out.splitlines()[-1].endswith("failed: FAILED")


async def test_trigger_with_an_idempotency_key_makes_one_run():
    async with running(emulator_app()) as url:
        code, out, err = await example("trigger.py", "etl", "order-17", **workspace(url))
    assert code == 0, err
    assert re.fullmatch(r"run (\d+) retried as \1", out.splitlines()[0])  # one run, not two
    assert out.splitlines()[1] in {"state QUEUED", "state PENDING", "state RUNNING"}
    assert err == ""


async def test_the_http_client_triggers_and_follows_the_stream():
    async with (
        running(emulator_app()) as emulator_url,
        running(create_app(fast_settings(emulator_url))) as service_url,
    ):
        code, out, err = await example("http_client.py", "etl", JOBS_SIDECAR_URL=service_url)
    assert code == 0, err
    lines = out.splitlines()
    assert re.fullmatch(r"run (\d+) retried as \1", lines[0])  # one run, not two
    assert lines[-1] == "TERMINATED SUCCESS"


async def test_the_http_client_starts_a_run_of_its_own_each_time_it_runs():
    async with (
        running(emulator_app()) as emulator_url,
        running(create_app(fast_settings(emulator_url))) as service_url,
    ):
        runs = [await example("http_client.py", "etl", JOBS_SIDECAR_URL=service_url)]
        runs.append(await example("http_client.py", "etl", JOBS_SIDECAR_URL=service_url))
    assert [code for code, _, _ in runs] == [0, 0]
    first, second = (out.splitlines()[0].split()[1] for _, out, _ in runs)
    assert first != second  # a fresh Idempotency-Key each run, so a second run


async def test_the_http_client_exits_1_when_the_run_fails():
    async with (
        running(emulator_app()) as emulator_url,
        running(create_app(fast_settings(emulator_url))) as service_url,
    ):
        code, out, err = await example("http_client.py", "flaky", JOBS_SIDECAR_URL=service_url)
    assert code == 1, err
    assert out.splitlines()[-1] == "INTERNAL_ERROR FAILED"


async def test_the_http_client_sends_its_api_key_in_token_mode():
    secret = "frontend-secret-0123456789"
    async with running(emulator_app()) as emulator_url:
        settings = fast_settings(emulator_url)
        settings = msgspec.structs.replace(
            settings,
            access=msgspec.structs.replace(settings.access, mode="token"),
            api_keys=(ApiKey("frontend", Secret(secret)),),
        )
        async with running(create_app(settings)) as service_url:
            code, out, err = await example(
                "http_client.py", "etl", JOBS_SIDECAR_URL=service_url, JOBS_SIDECAR_KEY=secret
            )
            refused, without, _ = await example(
                "http_client.py", "etl", JOBS_SIDECAR_URL=service_url
            )
    assert code == 0, err
    assert out.splitlines()[-1] == "TERMINATED SUCCESS"
    assert refused == 1
    assert "401" in without
    assert "UNAUTHENTICATED" in without
