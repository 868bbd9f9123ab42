"""Benchmarks of the stream and read paths against the emulator over loopback; prints JSON.

    python -m bench.run              # all seven (wrk for 4 and 7; redis-server for 6 and 7)
    python -m bench.run 2 4          # only memory and throughput

Run by hand (make bench); the figures go in bench/README.md with the date and the machine.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.procs import Proc, bare, emulator, sidecar
from bench.scale import bench_replicas, bench_workers
from bench.sse import Watcher

POLL_S = 1.0


async def trigger(client: httpx.AsyncClient, job: str) -> int:
    response = await client.post(f"/api/jobs/{job}/run", json={})
    response.raise_for_status()
    return int(response.json()["runId"])


async def upstream_gets(emu: Proc) -> int:
    async with httpx.AsyncClient(base_url=emu.url) as client:
        stats = (await client.get("/emulator/stats")).json()
    return int(stats["calls"].get("runs/get", 0))


async def open_watchers(svc: Proc, path: str, count: int) -> tuple[list[Watcher], list[Any]]:
    """Open `count` streams, 100 at a time, each batch fully open before the next (the
    server's listen backlog is 100: a larger burst loses connections in the kernel)."""
    watchers: list[Watcher] = []
    tasks: list[Any] = []
    for start in range(0, count, 100):
        batch = [Watcher("127.0.0.1", svc.port, path) for _ in range(min(100, count - start))]
        tasks.extend(asyncio.create_task(w.run()) for w in batch)
        await asyncio.wait_for(asyncio.gather(*(w.opened.wait() for w in batch)), 60)
        watchers.extend(batch)
    return watchers, tasks


async def close_watchers(watchers: list[Watcher], tasks: list[Any]) -> None:
    for w in watchers:
        w.close()
    await asyncio.gather(*tasks, return_exceptions=True)


async def bench_shared_poller(emu: Proc, svc: Proc) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=svc.url) as client:
        run_id = await trigger(client, "long")
    watchers, tasks = await open_watchers(svc, f"/api/jobs/long/runs/{run_id}/events", 1000)
    await asyncio.sleep(2)
    before, started = await upstream_gets(emu), time.monotonic()
    await asyncio.sleep(10)
    calls, elapsed = await upstream_gets(emu) - before, time.monotonic() - started
    await close_watchers(watchers, tasks)
    return {
        "watchers": 1000,
        "window_s": round(elapsed, 2),
        "upstream_runs_get": calls,
        "runs_get_per_poll_interval": round(calls / (elapsed / POLL_S), 2),
    }


async def bench_memory(emu: Proc) -> dict[str, Any]:
    """RSS of a fresh service: idle, then with 1,000 and 10,000 open streams of one run."""
    svc = sidecar(emu.url)
    try:
        await asyncio.sleep(1)
        idle_kb = svc.rss_kb()
        async with httpx.AsyncClient(base_url=svc.url) as client:
            run_id = await trigger(client, "long")
        out: dict[str, Any] = {"idle_rss_mb": round(idle_kb / 1024, 1)}
        path = f"/api/jobs/long/runs/{run_id}/events"
        for count in (1000, 10_000):
            watchers, tasks = await open_watchers(svc, path, count)
            await asyncio.sleep(2)
            rss = svc.rss_kb()
            out[f"rss_mb_{count}_streams"] = round(rss / 1024, 1)
            out[f"kb_per_stream_{count}"] = round((rss - idle_kb) / count, 1)
            await close_watchers(watchers, tasks)
            await asyncio.sleep(2)
        return out
    finally:
        svc.stop()


async def bench_latency(emu: Proc, svc: Proc) -> dict[str, Any]:
    """Upstream change time (found by polling the emulator every 5 ms) → event at the client."""
    async with httpx.AsyncClient(base_url=svc.url) as client:
        run_id = await trigger(client, "steps")
    watcher = Watcher("127.0.0.1", svc.port, f"/api/jobs/steps/runs/{run_id}/events")
    arrivals: dict[str, float] = {}

    def on_frame(now: float, frame: bytes) -> None:
        match = re.search(rb'"status":"([A-Z_]+)"', frame)
        if match and b"event: message" in frame:
            arrivals.setdefault(match.group(1).decode(), now)

    task = asyncio.create_task(watcher.run(on_frame))
    changes: dict[str, float] = {}
    headers = {"Authorization": "Bearer dapi-local-dev"}
    async with httpx.AsyncClient(base_url=emu.url, headers=headers) as upstream:
        while not watcher.closed.is_set():
            run = (await upstream.get("/api/2.1/jobs/runs/get", params={"run_id": run_id})).json()
            changes.setdefault(run["state"]["life_cycle_state"], time.time())
            await asyncio.sleep(0.005)
    await task
    delays = {s: round((arrivals[s] - changes[s]) * 1000, 1) for s in changes if s in arrivals}
    first = min(changes, key=changes.__getitem__)
    delays.pop(first, None)  # the first state was there before we connected
    return {
        "poll_interval_ms": POLL_S * 1000,
        "delay_ms_by_state": delays,
        "max_delay_ms": max(delays.values()) if delays else None,
    }


def wrk(url: str, seconds: int = 10) -> tuple[float, int]:
    """Requests per second and the number of requests, from one wrk run."""
    pin = ["taskset", "-c", "1"] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []
    out = subprocess.run(  # noqa: S603 - a fixed local tool
        [*pin, "wrk", "-t1", "-c32", f"-d{seconds}s", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    assert rate, out
    assert total, out
    return float(rate.group(1)), int(total.group(1))


async def bench_throughput(emu: Proc) -> dict[str, Any]:
    """A cached GET /status vs a bare Starlette endpoint sending the same bytes, both on
    Hypercorn; ours with its access log on (the default, info) and off (LOG_LEVEL=warning).

    The machine is noisy: fifteen interleaved 3 s rounds (the order rotating each round, so no
    server always runs first), and the median of the per-round ratios.
    """
    if shutil.which("wrk") is None:
        return {"skipped": "wrk not installed (apt-get install wrk)"}
    logged, quiet = sidecar(emu.url, log_level="info"), sidecar(emu.url, log_level="warning")
    async with httpx.AsyncClient(base_url=logged.url) as client:
        body = (await client.get("/api/jobs/long/status")).content
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        fh.write(body)
    reference = bare(Path(fh.name))
    urls = {
        name: f"{proc.url}/api/jobs/long/status"
        for name, proc in (("logged", logged), ("quiet", quiet), ("bare", reference))
    }
    procs = {"logged": logged, "quiet": quiet, "bare": reference}
    rps: dict[str, list[float]] = {name: [] for name in urls}
    cpu_us: dict[str, list[float]] = {name: [] for name in urls}
    try:
        for url in urls.values():
            wrk(url, 2)  # warm up
        names = list(urls)
        for round_ in range(15):
            for name in names[round_ % 3 :] + names[: round_ % 3]:
                before = procs[name].cpu_seconds()
                rate, count = wrk(urls[name], 3)
                rps[name].append(rate)
                cpu_us[name].append((procs[name].cpu_seconds() - before) / count * 1e6)
    finally:
        for proc in (reference, logged, quiet):
            proc.stop()
        os.unlink(fh.name)

    def ratios(name: str) -> list[float]:
        return [ours / ref for ours, ref in zip(rps[name], rps["bare"], strict=True)]

    cpu = {name: statistics.median(values) for name, values in cpu_us.items()}
    return {
        "connections": 32,
        "median_rps": {name: round(statistics.median(v)) for name, v in rps.items()},
        "ratio_with_access_log": round(statistics.median(ratios("logged")), 3),
        "ratio_without_access_log": round(statistics.median(ratios("quiet")), 3),
        "ratio_range_with_access_log": [
            round(min(ratios("logged")), 2),
            round(max(ratios("logged")), 2),
        ],
        # CPU time per request is steadier than wall-clock rates on a shared host; the
        # capacity ratio is bare's CPU per request over ours.
        "server_cpu_us_per_request": {name: round(value, 1) for name, value in cpu.items()},
        "cpu_ratio_with_access_log": round(cpu["bare"] / cpu["logged"], 3),
        "cpu_ratio_without_access_log": round(cpu["bare"] / cpu["quiet"], 3),
    }


async def bench_sigterm(emu: Proc) -> dict[str, Any]:
    svc = sidecar(emu.url)
    async with httpx.AsyncClient(base_url=svc.url) as client:
        run_id = await trigger(client, "long")
    watchers, tasks = await open_watchers(svc, f"/api/jobs/long/runs/{run_id}/events", 1000)
    seconds = await asyncio.to_thread(svc.terminate)
    await asyncio.gather(*tasks, return_exceptions=True)
    told = sum(any(b"event: shutdown" in f for _, f in w.frames) for w in watchers)
    return {
        "open_streams": 1000,
        "seconds_to_exit": round(seconds, 2),
        "streams_given_shutdown_event": told,
    }


BENCHES = (
    "1_shared_poller",
    "2_memory",
    "3_latency",
    "4_throughput",
    "5_sigterm",
    "6_replicas",
    "7_workers",
)


async def main(selected: list[str]) -> None:
    emu = emulator()
    svc = sidecar(emu.url)
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
    }
    runs = {
        "1_shared_poller": lambda: bench_shared_poller(emu, svc),
        "2_memory": lambda: bench_memory(emu),
        "3_latency": lambda: bench_latency(emu, svc),
        "4_throughput": lambda: bench_throughput(emu),
        "5_sigterm": lambda: bench_sigterm(emu),
        "6_replicas": lambda: bench_replicas(emu),
        "7_workers": lambda: bench_workers(emu),
    }
    try:
        for name in BENCHES:
            if not selected or any(name.startswith(f"{s}_") for s in selected):
                results[name] = await runs[name]()
    finally:
        svc.stop()
        emu.stop()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))  # e.g. `python -m bench.run 2 4` for memory and throughput
