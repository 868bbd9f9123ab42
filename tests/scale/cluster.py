"""Replicas as processes (`python -m service serve`) on loopback, over one emulator and Redis."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from pathlib import Path

import httpx

from tests.e2e.servers import free_port, stop, wait_listening

ROOT = Path(__file__).resolve().parents[2]
PARAMS = {"params": {"run_date": "2026-01-01"}}
SETTINGS = """
poll_interval_ms = 1000
poll_max_ms = 1000
[limits]  # roomy: these tests are about sharing, not about the front door's rates
trigger = "1000/minute"
read = "100000/minute"
[jobs.etl]
job_id = 1001
task_type = "job"
[jobs.etl.params]
run_date = "date"
"""


class Replica:
    """One service process; its JSON log lines are kept."""

    def __init__(self, process: asyncio.subprocess.Process, url: str) -> None:
        self.process = process
        self.url = url
        self.lines: list[dict[str, object]] = []

    async def collect(self) -> None:
        assert self.process.stderr is not None
        async for raw in self.process.stderr:
            with suppress(ValueError):
                self.lines.append(json.loads(raw))

    async def polls(self) -> float:
        """`sidecar_polls` from its /metrics."""
        async with httpx.AsyncClient(base_url=self.url, timeout=5) as client:
            text = (await client.get("/metrics")).text
        line = next(x for x in text.splitlines() if x.startswith("sidecar_polls_total "))
        return float(line.split()[1])

    def kill(self) -> None:
        """SIGKILL: the replica dies without a word (no lease released)."""
        with suppress(ProcessLookupError):
            self.process.kill()


@asynccontextmanager
async def replica(
    tmp_path: Path,
    emulator_url: str,
    redis_url: str | None,
    *,
    extra_toml: str = "",
    args: tuple[str, ...] = (),
) -> AsyncIterator[Replica]:
    config = tmp_path / f"jobs-{free_port()}.toml"
    config.write_text(extra_toml + SETTINGS)
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DATABRICKS_HOST": emulator_url,
        "DATABRICKS_TOKEN": "dapi-local-dev",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "JOBS_CONFIG": str(config),
        **({"REDIS_URL": redis_url} if redis_url else {}),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "service", "serve", *args),
        cwd=ROOT,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    child = Replica(process, f"http://127.0.0.1:{port}")
    collecting = asyncio.create_task(child.collect())
    try:
        await wait_listening(port, within_s=20)
        yield child
    finally:
        await stop(process)
        # Bounded: a worker outliving its parent would hold stderr open for ever.
        done, _ = await asyncio.wait([collecting], timeout=10)
        if not done:
            collecting.cancel()


@asynccontextmanager
async def cluster(
    tmp_path: Path, emulator_url: str, redis_url: str, count: int = 3
) -> AsyncIterator[list[Replica]]:
    async with AsyncExitStack() as stack:
        started = [replica(tmp_path, emulator_url, redis_url) for _ in range(count)]
        yield list(await asyncio.gather(*(stack.enter_async_context(r) for r in started)))


class Watcher:
    """One SSE client of a run on one replica: every event it receives, until the stream ends."""

    def __init__(self, url: str, run_id: int, last_event_id: str | None = None) -> None:
        self.url = url
        self.run_id = run_id
        self.last_event_id = last_event_id
        self.events: list[dict[str, str]] = []
        self.opened = asyncio.Event()

    async def run(self, *, stop_after: int | None = None) -> list[dict[str, str]]:
        headers = {"Last-Event-ID": self.last_event_id} if self.last_event_id else {}
        path = f"/api/jobs/etl/runs/{self.run_id}/events"
        async with (
            httpx.AsyncClient(base_url=self.url, timeout=30) as client,
            client.stream("GET", path, headers=headers) as response,
        ):
            self.opened.set()
            event: dict[str, str] = {}
            async for line in response.aiter_lines():
                if not line:
                    if event:
                        self.events.append(event)
                        if stop_after is not None and len(self.messages) >= stop_after:
                            return self.events
                    event = {}
                    continue
                name, _, value = line.partition(":")
                if name:
                    event[name] = value.strip()
        return self.events

    @property
    def messages(self) -> list[dict[str, str]]:
        return [e for e in self.events if e.get("event") == "message"]

    @property
    def ids(self) -> list[str]:
        return [e["id"] for e in self.messages]

    @property
    def statuses(self) -> list[str]:
        return [json.loads(e["data"])["status"] for e in self.messages]


async def emulator_calls(emulator_url: str, endpoint: str) -> int:
    async with httpx.AsyncClient(base_url=emulator_url, timeout=5) as client:
        stats = (await client.get("/emulator/stats")).json()
    return int(stats["calls"].get(endpoint, 0))


async def advance(emulator_url: str, ms: int) -> None:
    async with httpx.AsyncClient(base_url=emulator_url, timeout=5) as client:
        (await client.post("/emulator/clock/advance", json={"ms": ms})).raise_for_status()


async def trigger(url: str, key: str | None = None) -> int:
    headers = {"Idempotency-Key": key} if key else {}
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        response = await client.post("/api/jobs/etl/run", json=PARAMS, headers=headers)
    response.raise_for_status()
    return int(response.json()["runId"])
