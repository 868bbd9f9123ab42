"""Real Hypercorn servers on loopback for end-to-end tests, served as production serves."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import msgspec

from service.app import create_app
from service.config import load_settings
from service.emulator import ScaledClock, Scenario, create_emulator_app
from service.emulator.scenario import DEFAULT_TOKEN
from service.serving import hypercorn_config, listening_socket, serve


def open_fds() -> int:
    """The file descriptors this process (the test and the servers it runs) holds open."""
    return len(os.listdir("/proc/self/fd"))


async def within(seconds: float, condition: Any) -> bool:
    """Poll `condition` (a process-wide count, no event to wait on) until true or `seconds` pass."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def split_response(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """One raw HTTP/1.1 response: its status, its headers (names lower-cased), its body."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def free_port() -> int:
    """A port nothing listens on now (for a child process to bind, or for a refused call)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_listening(port: int, within_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.01)
        else:
            writer.close()
            await writer.wait_closed()
            return


@asynccontextmanager
async def running(
    app: object,
    *,
    shutdown: asyncio.Event | None = None,
    graceful_s: float = 5.0,
    header_timeout_s: float = 10.0,
    host: str = "127.0.0.1",
) -> AsyncIterator[str]:
    """Serve `app` on `host` until the block ends (or `shutdown` is set); yield its URL on
    127.0.0.1 (on `::`, dual-stack, that is an IPv4 client: its peer is `::ffff:127.0.0.1`)."""
    sock = listening_socket(host, 0, dead_peer_timeout_s=120)
    port = int(sock.getsockname()[1])
    shutdown = shutdown or asyncio.Event()
    config = hypercorn_config(host, port, graceful_s)
    config.errorlog = None
    task = asyncio.create_task(
        serve(
            app,
            sock,
            config,
            header_timeout_s=header_timeout_s,
            shutdown_trigger=shutdown.wait,
        )
    )
    try:
        await wait_listening(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        shutdown.set()
        await asyncio.wait_for(task, graceful_s + 5)


ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "config" / "demo.toml"

SPEED = 40.0  # the emulator plays its scenario this much faster than written


class Stack(msgspec.Struct):
    """The service and the emulator on loopback: a client for each, and the settings used."""

    api: httpx.AsyncClient
    emulator: httpx.AsyncClient
    settings: Any


def fast_settings(emulator_url: str, **overrides: Any) -> Any:
    environ = {"DATABRICKS_HOST": emulator_url, "DATABRICKS_TOKEN": "dapi-local-dev"}
    settings = load_settings(environ, DEMO)
    fast = {"poll_interval_ms": 50, "poll_floor_ms": 20, "poll_max_ms": 100, "timeout_ms": 2000}
    return msgspec.structs.replace(settings, **{**fast, **overrides})


@asynccontextmanager
async def stack(**overrides: Any) -> AsyncIterator[Stack]:
    """The demo scenario, sped up, behind the service polling fast; `overrides` to settings."""
    scenario = msgspec.structs.replace(Scenario.demo(), speed=SPEED)
    emulator_app = create_emulator_app(scenario, clock=ScaledClock(speed=SPEED))
    async with running(emulator_app) as emulator_url:
        settings = fast_settings(emulator_url, **overrides)
        async with (
            running(create_app(settings)) as url,
            httpx.AsyncClient(base_url=url, timeout=20) as api,
            httpx.AsyncClient(base_url=emulator_url) as emulator,
        ):
            yield Stack(api=api, emulator=emulator, settings=settings)


async def fault(s: Stack, **rule: Any) -> None:
    response = await s.emulator.post("/emulator/faults", json=rule)
    assert response.status_code < 300, response.text


async def stats(s: Stack) -> dict[str, Any]:
    return (await s.emulator.get("/emulator/stats")).json()  # type: ignore[no-any-return]


async def stop(process: asyncio.subprocess.Process, *, within_s: float = 15) -> None:
    """SIGTERM a service process still running, and SIGKILL it if it outlives `within_s`."""
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), within_s)
        except TimeoutError:
            process.kill()
            await process.wait()


async def start(emulator: str, config: Path) -> tuple[asyncio.subprocess.Process, str]:
    """`python -m service serve` as a child process with `config`; its URL once it listens."""
    port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "DATABRICKS_HOST": emulator,
        "DATABRICKS_TOKEN": DEFAULT_TOKEN,
        "JOBS_CONFIG": str(config),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "service", "serve", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    return process, f"http://127.0.0.1:{port}"


def etl_settings(url: str) -> object:
    """Settings from the environment alone: one job, etl = 1001, at the workspace `url`."""
    return load_settings(
        {
            "DATABRICKS_HOST": url,
            "DATABRICKS_TOKEN": DEFAULT_TOKEN,
            "DATABRICKS_JOB_ETL": "1001",
            "HOST": "127.0.0.1",
        }
    )


def stage_app(dest: Path, *args: str) -> None:
    """deploy/databricks-app/stage.py into `dest`, as `make app-bundle` runs it (a Databricks App's
    source: app.yaml, requirements.txt, the service package and its metadata, config/jobs.toml)."""
    subprocess.run(  # noqa: S603 - our interpreter, our script
        [sys.executable, str(ROOT / "deploy" / "databricks-app" / "stage.py"), str(dest), *args],
        check=True,
        capture_output=True,
    )
