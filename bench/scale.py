"""Scale-out benchmarks (REDIS_URL): replicas sharing one poll loop, and workers on one port.

    python -m bench.run 6 7

6: three replicas, 1,000 watchers of one run on each: upstream runs/get per poll interval, in
   total (the target is 1, as for one process).
7: cached GET /status under wrk: one process (asyncio, then uvloop; no Redis), and with Redis
   `workers = 1` and `workers = 2` (asyncio and uvloop), interleaved rounds, medians. Nothing
   is pinned here: two workers need both cores (wrk shares them).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.procs import Proc, free_port, sidecar, wait_port


class RedisProc:
    """Debian's redis-server on a free loopback port, persistence off."""

    NO_PERSISTENCE = ("--save", "", "--appendonly", "no")

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="bench-redis-")
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed (bash .ci/redis-up --install)"
        self.popen = subprocess.Popen(  # noqa: S603 - Debian's redis-server, fixed arguments
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                self.dir,
                *self.NO_PERSISTENCE,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.port)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.popen.terminate()
        self.popen.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def config_file(text: str) -> str:
    """bench/jobs.toml with `text` added at the top (top-level settings)."""
    path = Path(tempfile.mkstemp(prefix="bench-", suffix=".toml")[1])
    path.write_text(text + "\n" + Path("bench/jobs.toml").read_text())
    return str(path)


async def hub_polls(svc: Proc) -> int:
    """`sidecar_polls_total` from the replica's /metrics."""
    async with httpx.AsyncClient(base_url=svc.url) as client:
        text = (await client.get("/metrics")).text
    return int(
        float(next(x for x in text.splitlines() if x.startswith("sidecar_polls_total ")).split()[1])
    )


async def bench_replicas(emu: Proc) -> dict[str, Any]:
    from bench.run import close_watchers, open_watchers, trigger, upstream_gets  # noqa: PLC0415

    redis = RedisProc()
    replicas = [sidecar(emu.url, extra_env={"REDIS_URL": redis.url}) for _ in range(3)]
    try:
        async with httpx.AsyncClient(base_url=replicas[0].url) as client:
            run_id = await trigger(client, "long")
        opened = [
            await open_watchers(svc, f"/api/jobs/long/runs/{run_id}/events", 1000)
            for svc in replicas
        ]
        await asyncio.sleep(3)
        polls_before = [await hub_polls(svc) for svc in replicas]
        before, started = await upstream_gets(emu), time.monotonic()
        await asyncio.sleep(10)
        calls, elapsed = await upstream_gets(emu) - before, time.monotonic() - started
        polls = [await hub_polls(svc) - b for svc, b in zip(replicas, polls_before, strict=True)]
        for watchers, tasks in opened:
            await close_watchers(watchers, tasks)
    finally:
        for svc in replicas:
            svc.stop()
        redis.stop()
    return {
        "replicas": 3,
        "watchers_per_replica": 1000,
        "window_s": round(elapsed, 2),
        "upstream_runs_get": calls,
        "runs_get_per_poll_interval": round(calls / elapsed, 2),  # bench/jobs.toml: 1 s
        "polls_by_replica": polls,  # one replica polls; the others relay
    }


def workers_rss_mb(supervisor: int) -> list[float]:
    """The RSS of each child of `supervisor`, in MB."""
    pids = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    status = [Path(f"/proc/{pid}/status").read_text().splitlines() for pid in pids]
    rss = [next(x for x in lines if x.startswith("VmRSS:")).split()[1] for lines in status]
    return [round(int(kb) / 1024, 1) for kb in rss]


async def bench_workers(emu: Proc) -> dict[str, Any]:
    from bench.run import wrk  # noqa: PLC0415

    if shutil.which("wrk") is None:
        return {"skipped": "wrk not installed (apt-get install wrk)"}
    redis = RedisProc()
    shared = {"REDIS_URL": redis.url}
    setups: dict[str, tuple[str, dict[str, str]]] = {
        "1_process_asyncio_no_redis": ("", {}),
        "1_process_uvloop_no_redis": ('event_loop = "uvloop"', {}),
        "workers_1_asyncio_redis": ("workers = 1", shared),
        "workers_2_asyncio_redis": ("workers = 2", shared),
        "workers_2_uvloop_redis": ('workers = 2\nevent_loop = "uvloop"', shared),
    }
    configs = {name: config_file(toml) for name, (toml, _) in setups.items()}
    procs = {
        name: sidecar(emu.url, extra_env={**env, "JOBS_CONFIG": configs[name]}, pinned=False)
        for name, (_, env) in setups.items()
    }
    rps: dict[str, list[float]] = {name: [] for name in procs}
    # CPU per request (steadier than rates on a shared host), for the single processes.
    cpu_us: dict[str, list[float]] = {name: [] for name in procs if name.startswith("1_")}
    try:
        await asyncio.sleep(1)
        urls = {name: f"{p.url}/api/jobs/long/status" for name, p in procs.items()}
        for url in urls.values():
            wrk(url, 2)  # warm up (and fill each cache)
        # The supervisor of `workers = N` (service/serving/workers.py), once its workers have
        # served: its RSS apart from theirs, and theirs.
        supervisor_mb = {
            name: round(p.rss_kb() / 1024, 1) for name, p in procs.items() if "workers_2" in name
        }
        worker_mb = {name: workers_rss_mb(procs[name].popen.pid) for name in supervisor_mb}
        names = list(urls)
        for round_ in range(5):
            for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
                before = procs[name].cpu_seconds()
                rate, count = wrk(urls[name], 3)
                rps[name].append(rate)
                if name in cpu_us:
                    cpu_us[name].append((procs[name].cpu_seconds() - before) / count * 1e6)
    finally:
        for proc in procs.values():
            proc.terminate()  # SIGTERM: a parent forwards it to its workers
        redis.stop()
        for path in configs.values():
            os.unlink(path)
    median = {name: round(statistics.median(v)) for name, v in rps.items()}
    cpu = {name: round(statistics.median(v), 1) for name, v in cpu_us.items()}
    base = median["workers_1_asyncio_redis"]
    return {
        "connections": 32,
        "supervisor_rss_mb": supervisor_mb,
        "worker_rss_mb": worker_mb,
        "median_rps": median,
        "workers_2_over_1": round(median["workers_2_asyncio_redis"] / base, 2),
        "workers_2_uvloop_over_1": round(median["workers_2_uvloop_redis"] / base, 2),
        "server_cpu_us_per_request_1_process": cpu,
        "uvloop_cpu_saving_1_process": round(
            1 - cpu["1_process_uvloop_no_redis"] / cpu["1_process_asyncio_no_redis"], 3
        ),
        "uvloop_over_asyncio_1_process": round(
            median["1_process_uvloop_no_redis"] / median["1_process_asyncio_no_redis"], 3
        ),
        "redis_over_local_cache_1_process": round(base / median["1_process_asyncio_no_redis"], 3),
    }
