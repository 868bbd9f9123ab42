"""A soak: load and faults together across three replicas and Redis, then one JSON verdict.

    python -m bench.soak                      # 30 minutes, 1,000 watchers (make soak)
    python -m bench.soak --minutes 2 --watchers 100 --out /tmp/soak

Starts the emulator (bench/soak_scenario.toml, real time), a redis-server and three service
processes (bench/soak.toml; the second with `workers = 2`) on 127.0.0.1, and keeps up at once:
watchers that drop and resume on a random replica (Last-Event-ID); a keyed trigger every second
on a random replica (a quarter asked twice with the key, one in ten through a lost run-now
answer, every answer that is not one retried with the key); repairs of the flaky job (twice per
key), cancels and cancel-alls; a Redis restart (data lost) every 5 minutes and a SIGKILL of a
replica (started again) every 7, both scaled with --minutes under 30; upstream 503 and 429
bursts and slow bodies. It stops by itself, then checks (bench/soak_report.py), prints the
verdict, and writes it with its raw samples to bench/results-soak-<date>.json and a plot beside.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import sys
import time
from pathlib import Path
from typing import Any

from bench.soak_cluster import Emulator, Redis, Replica, config_with, sample
from bench.soak_load import Load, Record, emulator_runs, emulator_stats
from bench.soak_report import plot, verdict

DRAIN_S = 25  # no new trigger or watch this long before the end: the last runs end first


class Soak:
    def __init__(self, minutes: float, watchers: int) -> None:
        self.minutes = minutes
        self.watchers = watchers
        scale = min(1.0, minutes / 30)
        self.redis_every_s = max(30.0, 300 * scale)
        self.kill_every_s = max(40.0, 420 * scale)
        self.sample_every_s = 10.0 if minutes >= 10 else 2.0
        self.record = Record()
        self.samples: list[dict[str, Any]] = []
        self.polls: list[dict[str, float]] = []
        self.events: list[dict[str, Any]] = []  # restarts and kills, with their times

    async def run(self) -> dict[str, Any]:
        emulator, redis = Emulator(), Redis()
        configs = [config_with(""), config_with("workers = 2"), config_with("")]
        replicas: list[Replica] = []
        try:
            for n, config in enumerate(configs):
                replicas.append(Replica(f"replica{n}", emulator.url, redis.url, config))
            urls = [r.url for r in replicas]
            load = Load(self.record, urls, emulator.url)
            self.started = time.monotonic()
            end = self.started + self.minutes * 60
            quiet = end - DRAIN_S
            hold = (2.0, 6.0)
            tasks = [
                load.triggers(1.0, quiet, lost_every=10),
                load.cancels(10.0, quiet),
                load.faults(20.0, quiet),
                load.probe(quiet),
                self.chaos(redis, replicas, quiet),
                self.sampler(replicas, emulator.url, end),
            ]
            watchers = [self.stagger(n, load.watcher(quiet, hold)) for n in range(self.watchers)]
            await asyncio.gather(*tasks, *watchers)
            runs = await emulator_runs(emulator.url, [3001, 3002])
            stats = await emulator_stats(emulator.url)
            await load.client.aclose()
        finally:
            for replica in replicas:
                replica.stop()
            redis.stop()
            emulator.stop()
            for config in configs:
                os.unlink(config)
        report = verdict(
            self.record,
            runs,
            self.samples,
            self.polls,
            minutes=self.minutes,
            load_stops_s=DRAIN_S,
        )
        report["chaos"] = {
            "redis_restarts": redis.restarts,
            "replica_kills": sum(r.kills for r in replicas),
            "events": self.events,
        }
        report["emulator_calls"] = stats["calls"]
        return report

    async def stagger(self, n: int, watcher: Any) -> None:
        await asyncio.sleep(n * 0.01)  # 100 a second: the listen backlog is 100
        await watcher

    async def chaos(self, redis: Redis, replicas: list[Replica], until: float) -> None:
        next_redis = self.started + self.redis_every_s
        next_kill = self.started + self.kill_every_s
        while time.monotonic() < until:
            await asyncio.sleep(0.5)
            now = time.monotonic()
            if now >= next_redis:
                await asyncio.to_thread(redis.restart)
                self.events.append({"t": round(now - self.started, 1), "what": "redis restart"})
                next_redis += self.redis_every_s
            if now >= next_kill:
                victim = random.choice(replicas)  # noqa: S311
                await asyncio.to_thread(victim.kill)
                await asyncio.sleep(1)
                await asyncio.to_thread(victim.start)
                self.events.append(
                    {"t": round(now - self.started, 1), "what": f"SIGKILL {victim.name}"}
                )
                next_kill += self.kill_every_s

    async def sampler(self, replicas: list[Replica], emulator_url: str, until: float) -> None:
        last_gets, last_t = None, time.monotonic()
        while time.monotonic() < until:
            now = time.monotonic()
            t = round(now - self.started, 1)
            for replica in replicas:
                for index, pid in enumerate(replica.pids()):
                    got = sample(pid)
                    if got is not None:
                        name = replica.name if index == 0 else f"{replica.name}/worker"
                        self.samples.append(
                            {"t": t, "process": name, "pid": pid, "rss_mb": got[0], "fds": got[1]}
                        )
            stats = await emulator_stats(emulator_url)
            gets = stats["calls"].get("runs/get", 0) - self.record.probe_gets
            if last_gets is not None:
                self.polls.append(
                    {
                        "t": t,
                        "seconds": now - last_t,
                        "runs_get": gets - last_gets,
                        "watched_runs": len(self.record.watched),
                    }
                )
            last_gets, last_t = gets, now
            await asyncio.sleep(self.sample_every_s)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--watchers", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=None, help="results file (default: bench/)")
    args = parser.parse_args(argv)
    soak = Soak(args.minutes, args.watchers)
    report = asyncio.run(soak.run())
    report["date"] = time.strftime("%Y-%m-%d")
    report["machine"] = (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    report["watcher_count"] = args.watchers
    out = args.out or Path(__file__).parent / f"results-soak-{report['date']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    latency = [(round(t - soak.started, 2), delay) for t, delay in soak.record.latency_ms]
    raw = {"report": report, "samples": soak.samples, "polls": soak.polls, "latency_ms": latency}
    out.write_text(json.dumps(raw, indent=1))
    plot(soak.samples, latency, out.with_suffix(".png"))
    print(json.dumps(report, indent=2))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
