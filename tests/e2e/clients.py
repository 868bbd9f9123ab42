"""What the end-to-end tests of the service's clients share: the CLI as a process (on pipes or
on a pseudo-terminal), the emulator's own list of a job's runs, and a service in token mode."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pty
import struct
import sys
import termios
from collections.abc import AsyncIterator
from pathlib import Path
from typing import NamedTuple

import msgspec

from service.api_keys import ApiKey
from service.app import create_app
from service.emulator import ScaledClock, Scenario, create_emulator_app
from service.secret import Secret
from tests.e2e.servers import SPEED, Stack, fast_settings, running
from tests.factories import DEMO_JOB_IDS

ROOT = Path(__file__).resolve().parents[2]
SECRET = "batch-secret-0123456789"  # the API key `token_mode_service` accepts


class Done(NamedTuple):
    code: int
    out: str
    err: str


def environment(url: str, **extra: str) -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "SIDECAR_URL": url, **extra}


async def cli(url: str, *args: str, **extra: str) -> Done:
    """`python -m service <args>` as a user runs it against `url`, its output on pipes."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "service", *args, cwd=ROOT, env=environment(url, **extra),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return Done(process.returncode, out.decode(), err.decode())


async def cli_on_a_terminal(url: str, *args: str, columns: int = 80) -> tuple[int, str]:
    """The same on a pseudo-terminal `columns` wide: its exit code and all it showed."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "service", *args, cwd=ROOT,
        env=environment(url, TERM="xterm"), stdin=asyncio.subprocess.DEVNULL,
        stdout=follower, stderr=follower,
    )  # fmt: skip
    os.close(follower)

    def read_all() -> bytes:
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the terminal's other side is closed
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)

    shown = await asyncio.wait_for(asyncio.to_thread(read_all), 60)
    os.close(leader)
    code = await process.wait()
    return code, shown.decode()


async def emulator_runs(s: Stack, job: str) -> list[int]:
    """The job's runs as the emulator has them (not through the service and its cache)."""
    reply = await s.emulator.get(
        "/api/2.1/jobs/runs/list",
        params={"job_id": DEMO_JOB_IDS[job], "limit": 25},
        headers={"Authorization": "Bearer dapi-local-dev"},
    )
    return [r["run_id"] for r in reply.json().get("runs", [])]


def url_of(s: Stack) -> str:
    return str(s.api.base_url).rstrip("/")


@contextlib.asynccontextmanager
async def token_mode_service() -> AsyncIterator[str]:
    """The demo behind the service in token mode, with one API key (`batch`: SECRET)."""
    scenario = msgspec.structs.replace(Scenario.demo(), speed=SPEED)
    emulator = create_emulator_app(scenario, clock=ScaledClock(speed=SPEED))
    async with running(emulator) as emulator_url:
        settings = fast_settings(emulator_url)
        access = msgspec.structs.replace(settings.access, mode="token")
        keyed = msgspec.structs.replace(
            settings, access=access, api_keys=(ApiKey("batch", Secret(SECRET)),)
        )
        async with running(create_app(keyed)) as url:
            yield url
