"""The soak's verdict from its record: runs against keys, final events, 5xx, RSS and descriptor
slopes (least squares, per hour), polls per run per interval, latency; and the plot."""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.soak_load import Record

LONG_LIVED_MIN = 10.0  # processes that lived this long (after warm-up) are judged flat or not


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value), per hour."""
    return fit(points)[0]


def fit(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares slope of (seconds, value) per hour, and its standard error per hour."""
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if not var:
        return 0.0, 0.0
    slope = sum((t - mean_t) * (v - mean_v) for t, v in points) / var
    if n < 3:
        return slope * 3600, 0.0
    residual = sum((v - mean_v - slope * (t - mean_t)) ** 2 for t, v in points) / (n - 2)
    return slope * 3600, (residual / var) ** 0.5 * 3600


def steady(points: list[tuple[float, float]], resolution: float) -> dict[str, Any]:
    """The second half of a series (after the warm-up: the finished runs a replica keeps for
    late resumes take 5 minutes to fill): its slope per hour, and whether it is flat within
    noise, i.e. its 95 % interval holds zero, or over the half it moves less than `resolution`
    (what one sample of the value can move by itself: allocator arenas, open connections)."""
    start = points[0][0] + (points[-1][0] - points[0][0]) / 2
    half = [p for p in points if p[0] >= start]
    slope, error = fit(half)
    hours = (half[-1][0] - half[0][0]) / 3600
    return {
        "per_hour": round(slope, 2),
        "plus_minus": round(2 * error, 2),
        "flat": abs(slope) <= 2 * error or abs(slope) * hours <= resolution,
    }


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def memory(
    samples: list[dict[str, Any]], warmup_s: float, until_s: float = float("inf")
) -> dict[str, Any]:
    """Per process (one series per pid: a restarted replica starts a new one), after warm-up
    and before `until_s` (when the load stops): first and last RSS and fds, and their slopes
    per hour."""
    series: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for s in samples:
        series[(s["process"], s["pid"])].append(s)
    out = {}
    for (name, pid), points in series.items():
        settled = [p for p in points if p["t"] - points[0]["t"] >= warmup_s and p["t"] <= until_s]
        if len(settled) < 5:
            continue
        span_s = settled[-1]["t"] - settled[0]["t"]
        out[f"{name} pid {pid}"] = {
            "minutes": round(span_s / 60, 1),
            "rss_mb": [round(settled[0]["rss_mb"], 1), round(settled[-1]["rss_mb"], 1)],
            "rss_mb_per_hour": round(slope_per_hour([(p["t"], p["rss_mb"]) for p in settled]), 2),
            "fds": [settled[0]["fds"], settled[-1]["fds"]],
            "fds_per_hour": round(slope_per_hour([(p["t"], p["fds"]) for p in settled]), 2),
            "second_half_rss_mb": steady([(p["t"], p["rss_mb"]) for p in settled], 1.0),
            "second_half_fds": steady(
                [(p["t"], p["fds"]) for p in settled],
                max(20, statistics.fmean(p["fds"] for p in settled) / 10),
            ),
        }
    return out


def verdict(
    record: Record,
    emulator_runs: list[int],
    samples: list[dict[str, Any]],
    polls: list[dict[str, float]],
    *,
    minutes: float,
    load_stops_s: float,
) -> dict[str, Any]:
    mapped = {run for entry in record.keys.values() for run in entry["runs"]}
    at_emulator = set(emulator_runs)
    keys_with_two_runs = sum(len(entry["runs"]) > 1 for entry in record.keys.values())
    unanswered = [k for k, e in record.keys.items() if not e["runs"]]
    runs = {
        "idempotency_keys": len(record.keys),
        "keys_answered": len(record.keys) - len(unanswered),
        "runs_at_emulator": len(at_emulator),
        "duplicate_runs": len(at_emulator - mapped) + keys_with_two_runs,
        # A key never answered is lost only if no run stands for it: an unmapped run would be
        # its run (counted above as a duplicate otherwise).
        "lost_runs": max(0, len(unanswered) - len(at_emulator - mapped)),
        "keys_never_answered": len(unanswered),
        "answered_runs_missing_at_emulator": len(mapped - at_emulator),
        "triggers_sent": sum(e["tries"] for e in record.keys.values()),
    }
    repairs = {
        "keys": len(record.repairs),
        "answered": sum(bool(ids) for ids in record.repairs.values()),
        "one_repair_per_key": all(len(ids) <= 1 for ids in record.repairs.values()),
    }
    calls = sum(p["runs_get"] for p in polls)
    expected = sum(p["watched_runs"] * p["seconds"] for p in polls)  # 1 s poll interval
    delays = [d for _, d in record.latency_ms]
    five = {k: v for k, v in record.answers.items() if k[:1] == "5"}
    checks = {
        "no_duplicate_run": runs["duplicate_runs"] == 0,
        "no_lost_run": runs["lost_runs"] == 0 and runs["answered_runs_missing_at_emulator"] == 0,
        "final_event_exactly_once": record.sessions["missed_final"] == 0
        and record.sessions["final_twice"] == 0,
        "no_gap_in_event_ids": record.sessions["id_gaps"] == 0
        and record.sessions["repeated_ids"] == 0,
        "only_documented_5xx": not record.bad_5xx,
        "one_repair_per_key": repairs["one_repair_per_key"],
    }
    mem = memory(samples, min(120.0, minutes * 60 / 5), minutes * 60 - load_stops_s)
    lived = [m for m in mem.values() if m["minutes"] >= LONG_LIVED_MIN]
    if lived:  # a soak shorter than LONG_LIVED_MIN has no slope worth judging
        checks["memory_and_fds_flat"] = all(
            m["second_half_rss_mb"]["flat"] and m["second_half_fds"]["flat"] for m in lived
        )
    return {
        "ok": all(checks.values()),
        "checks": checks,
        "minutes": minutes,
        "runs": runs,
        "repairs": repairs,
        "watchers": dict(record.sessions),
        "watcher_examples": record.session_faults[:5],
        "answers": dict(sorted(record.answers.items())),
        "answers_5xx": five,
        "undocumented_5xx": sorted(set(record.bad_5xx)),
        "connections_refused_or_cut": record.refused,
        "faults_injected": dict(record.injected),
        "memory": mem,
        "polls_per_run_per_interval": round(calls / expected, 2) if expected else None,
        "latency_ms": {
            "runs": record.probed_runs,
            "events": len(delays),
            "p50": percentile(delays, 0.5),
            "p99": percentile(delays, 0.99),
            "max": round(max(delays), 1) if delays else None,
            "mean": round(statistics.fmean(delays), 1) if delays else None,
        },
    }


def plot(samples: list[dict[str, Any]], latency: list[tuple[float, float]], path: Path) -> None:
    """RSS, open descriptors and change -> event latency over time, one PNG."""
    import matplotlib as mpl  # noqa: PLC0415 - bench only (the test group's)

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, (rss, fds, lat) = plt.subplots(3, 1, figsize=(10, 9), sharex=True)
    series: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for s in samples:
        series[(s["process"], s["pid"])].append(s)
    for (name, pid), points in series.items():
        minutes = [p["t"] / 60 for p in points]
        rss.plot(minutes, [p["rss_mb"] for p in points], label=f"{name} ({pid})")
        fds.plot(minutes, [p["fds"] for p in points])
    if latency:
        lat.plot([t / 60 for t, _ in latency], [d for _, d in latency], ".", markersize=2)
    rss.set_ylabel("RSS (MB)")
    fds.set_ylabel("open fds")
    lat.set_ylabel("change → event (ms)")
    lat.set_xlabel("minutes")
    rss.legend(fontsize=6, ncol=3)
    fig.suptitle("jobs-sidecar soak: 3 replicas (one with workers = 2) over Redis")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
