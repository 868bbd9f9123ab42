"""`workers = N`: processes sharing one port, and state over Redis, under a small supervisor;
none without Redis."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from service.basics.logs import configure_logging
from service.cli import main
from service.emulator import ManualClock, Scenario, create_emulator_app
from tests.e2e.servers import running
from tests.scale.cluster import emulator_calls, replica, trigger

pytestmark = pytest.mark.looptime(False)


@asynccontextmanager
async def two_workers(tmp_path: Path, redis_url: str) -> AsyncIterator[tuple[Any, str]]:
    """`serve` with `workers = 2` over Redis, on the demo emulator: (the process, its URL)."""
    emulator = create_emulator_app(Scenario.demo(), clock=ManualClock())
    async with (
        running(emulator) as emulator_url,
        replica(tmp_path, emulator_url, redis_url, extra_toml="workers = 2\n") as parent,
    ):
        yield parent, emulator_url


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


async def listening(parent: Any, pids: list[int]) -> None:
    """Until each of `pids` has logged that it serves (within 20 s)."""
    for _ in range(400):
        said = {line.get("pid") for line in parent.lines if line.get("event") == "serve.listening"}
        if set(pids) <= said:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"workers {pids} never said serve.listening")


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def rss_kb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1])


def test_workers_above_one_without_redis_url_is_one_line_and_exit_2(monkeypatch, tmp_path, capsys):
    for name in ("REDIS_URL", "JOBS_CONFIG", "PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABRICKS_HOST", "ws.example.com")
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-very-secret")
    monkeypatch.chdir(tmp_path)
    try:
        code = main(["serve", "--workers", "2"])
    finally:
        configure_logging("info")
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "configuration error: workers = 2 needs REDIS_URL (the workers share state over "
        "Redis); set REDIS_URL or use workers = 1"
    ]


async def test_two_workers_serve_one_port_share_keys_and_stop_on_sigterm(tmp_path, redis_server):
    async with two_workers(tmp_path, redis_server.url) as (parent, emulator_url):
        workers = children(parent.process.pid)
        # Connections land on either worker; the key memory is one for both.
        first = await trigger(parent.url, key="same")
        runs = await asyncio.gather(*(trigger(parent.url, key="same") for _ in range(20)))
        run_nows = await emulator_calls(emulator_url, "run-now")
        served = {
            line.get("replica") for line in parent.lines if line.get("event") == "redis.connected"
        }
    assert len(workers) == 2
    assert set(runs) == {first}
    assert run_nows == 1
    assert len(served) == 2  # two processes, each with its own link
    assert parent.process.returncode == 0
    assert not any(alive(pid) for pid in workers)
    assert [line.get("event") for line in parent.lines].count("serve.stopped") == 2  # drained


async def test_the_supervisor_holds_20_mb_at_most_once_its_workers_serve(tmp_path, redis_server):
    async with two_workers(tmp_path, redis_server.url) as (parent, _):
        workers = children(parent.process.pid)
        await listening(parent, workers)
        await trigger(parent.url)
        supervisor_kb = rss_kb(parent.process.pid)
        worker_kb = min(rss_kb(pid) for pid in workers)
    assert supervisor_kb <= 20 * 1024
    assert worker_kb > 2 * supervisor_kb  # what it does not hold: the application


async def test_event_loop_uvloop_serves_on_uvloop(tmp_path):
    emulator = create_emulator_app(Scenario.demo(), clock=ManualClock())
    async with (
        running(emulator) as emulator_url,
        replica(tmp_path, emulator_url, None, extra_toml='event_loop = "uvloop"\n') as child,
    ):
        run_id = await trigger(child.url)
        listening = [line for line in child.lines if line.get("event") == "serve.listening"]
    assert run_id > 0
    assert [line["loop"] for line in listening] == ["uvloop"]


async def test_a_worker_that_dies_is_replaced(tmp_path, redis_server):
    async with two_workers(tmp_path, redis_server.url) as (parent, _):
        first = children(parent.process.pid)
        await listening(parent, first)  # both: the port answers as soon as one worker does
        os.kill(first[0], signal.SIGKILL)
        for _ in range(200):
            now = children(parent.process.pid)
            if len(now) == 2 and first[0] not in now:
                break
            await asyncio.sleep(0.05)
        await listening(parent, now)
        run_id = await trigger(parent.url)
        exited = [line for line in parent.lines if line.get("event") == "serve.worker_exited"]
    assert len(now) == 2
    assert first[0] not in now
    assert first[1] in now
    assert run_id > 0
    assert [(line["pid"], line["code"]) for line in exited] == [(first[0], -9)]


async def test_workers_stop_when_their_parent_is_killed(tmp_path, redis_server):
    async with two_workers(tmp_path, redis_server.url) as (parent, _):
        workers = children(parent.process.pid)
        await listening(parent, workers)
        parent.kill()  # SIGKILL: no chance to forward anything
        for _ in range(200):
            if not any(alive(pid) for pid in workers):
                break
            await asyncio.sleep(0.05)
    assert len(workers) == 2
    assert not any(alive(pid) for pid in workers)
