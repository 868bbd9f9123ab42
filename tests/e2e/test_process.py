"""The service as a process (`python -m service serve`): its fd limit, fd exhaustion, SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import httpx
import msgspec
import pytest

from tests.e2e.servers import free_port, stop, wait_listening

pytestmark = pytest.mark.looptime(False)
ROOT = Path(__file__).resolve().parents[2]


class Child(msgspec.Struct):
    process: asyncio.subprocess.Process
    url: str
    lines: list[dict[str, object]]
    text: list[str]

    async def line(self, event: str, *, after: int = 0, within_s: float = 10) -> int:
        """Wait for the log line `event` (past the first `after` lines); return its index."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        while True:
            for index, line in enumerate(self.lines[after:], start=after):
                if line.get("event") == event:
                    return index
            assert loop.time() < deadline, f"no {event} in {self.text[-20:]}"
            await asyncio.sleep(0.02)


@asynccontextmanager
async def service_process(
    tmp_path: Path, *, toml: str = "", fd_limits: tuple[int, int] | None = None
) -> AsyncIterator[Child]:
    config = tmp_path / "jobs.toml"
    config.write_text(toml + "\n[jobs.etl]\njob_id = 101\n")
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DATABRICKS_HOST": "http://127.0.0.1:9",  # never called by what these tests ask
        "DATABRICKS_TOKEN": "dapi-test-token",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "JOBS_CONFIG": str(config),
    }

    def limit_fds() -> None:
        if fd_limits is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, fd_limits)

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "service",
        "serve",
        cwd=ROOT,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=limit_fds,  # only setrlimit, before exec
    )
    child = Child(process=process, url=f"http://127.0.0.1:{port}", lines=[], text=[])

    async def collect() -> None:
        assert process.stderr is not None
        async for raw in process.stderr:
            child.text.append(raw.decode(errors="replace"))
            with suppress(ValueError):
                child.lines.append(json.loads(raw))

    collecting = asyncio.create_task(collect())
    try:
        await child.line("app.started")
        # The lifespan starts before the socket listens: "app.started" alone races the listener.
        await wait_listening(port)
        yield child
    finally:
        await stop(process)
        await collecting


def open_files_limit(pid: int) -> tuple[int, int]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise AssertionError("no open files limit")


async def test_the_fd_soft_limit_is_raised_to_the_hard_limit_at_start(tmp_path):
    async with service_process(tmp_path, fd_limits=(256, 512)) as child:
        limits = open_files_limit(child.process.pid)
        listening = child.lines[await child.line("serve.listening")]
    assert limits == (512, 512)
    assert listening["max_fds"] == 512


async def test_out_of_fds_is_one_line_a_second_and_serving_resumes_when_fds_free(tmp_path):
    async with service_process(tmp_path, fd_limits=(64, 64)) as child:
        port = int(child.url.rsplit(":", 1)[1])
        # More connections than the child has fds: the kernel completes them all (backlog).
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(80)]
        first = await child.line("serve.accept_failed")
        second = await child.line("serve.accept_failed", after=first + 1, within_s=3)
        for _, writer in held:
            writer.close()
        async with httpx.AsyncClient(base_url=child.url, timeout=10) as client:
            live = await client.get("/livez")
        failures = [line for line in child.lines if line.get("event") == "serve.accept_failed"]
    assert live.status_code == 200
    assert failures[0]["error"] == "EMFILE"
    assert all(line["failures"] >= 1 for line in failures)
    assert failures[-1]["total"] == sum(line["failures"] for line in failures)
    assert second - first >= 1
    assert not any("Traceback" in text for text in child.text)
    assert len(failures) <= 12  # once a second at most over the test, not once an attempt


async def test_sigterm_fails_readiness_then_serves_on_for_the_drain_delay(tmp_path):
    async with (
        service_process(tmp_path, toml="drain_delay_ms = 2000") as child,
        httpx.AsyncClient(base_url=child.url, timeout=5) as client,
    ):
        assert (await client.get("/readyz")).status_code == 200
        loop = asyncio.get_running_loop()
        child.process.send_signal(signal.SIGTERM)
        signalled = loop.time()
        await child.line("serve.stopping")
        ready = await client.get("/readyz")
        jobs = await client.get("/api/jobs")
        served_at = loop.time() - signalled
        await asyncio.wait_for(child.process.wait(), 10)
        stopped_at = loop.time() - signalled
        with pytest.raises(httpx.ConnectError):
            await client.get("/livez")
    assert ready.status_code == 503
    assert ready.json() == {"status": "draining"}
    assert jobs.status_code == 200
    assert served_at < 1.5  # answered inside the delay
    assert stopped_at >= 2.0
