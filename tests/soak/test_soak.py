"""The soak (bench/soak.py) for two minutes: 100 watchers, Redis restarted and a replica
SIGKILLed at least once; no run twice, none lost, every final event exactly once. It runs
beside the rest of the suite (conftest.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.redis_server import unavailable

pytestmark = [pytest.mark.soak, pytest.mark.looptime(False)]


@pytest.fixture(scope="module")
def report(request: pytest.FixtureRequest) -> dict[str, object]:
    if shutil.which("redis-server") is None:
        unavailable("redis-server is not installed")
    soak_results: Path = request.getfixturevalue("soak_results")
    assert soak_results.with_suffix(".png").stat().st_size > 0
    return json.loads(soak_results.read_text())["report"]  # type: ignore[no-any-return]


def test_the_faults_happened(report) -> None:
    assert report["chaos"]["redis_restarts"] >= 1
    assert report["chaos"]["replica_kills"] >= 1
    assert report["faults_injected"]["lost_answer"] >= 1
    assert report["watchers"]["sessions"] >= 100
    assert report["watchers"]["resumes"] >= 1


def test_no_run_twice_and_none_lost(report) -> None:
    runs = report["runs"]
    assert runs["runs_at_emulator"] == runs["idempotency_keys"] > 0, runs
    assert runs["duplicate_runs"] == runs["lost_runs"] == 0, runs


def test_every_watcher_that_stayed_got_its_final_event(report) -> None:
    assert report["watchers"].get("missed_final", 0) == 0, report["watcher_examples"]


def test_no_watcher_got_its_final_event_twice(report) -> None:
    assert report["watchers"].get("final_twice", 0) == 0, report["watcher_examples"]


def test_no_gap_nor_repeat_in_a_watchers_event_ids(report) -> None:
    watchers = report["watchers"]
    assert watchers.get("id_gaps", 0) == watchers.get("repeated_ids", 0) == 0, report[
        "watcher_examples"
    ]


def test_only_documented_5xx(report) -> None:
    assert report["undocumented_5xx"] == [], report["answers"]


def test_one_repair_per_key(report) -> None:
    assert report["repairs"]["answered"] >= 1
    assert report["checks"]["one_repair_per_key"]


def test_memory_and_latency_are_measured(report) -> None:
    assert report["memory"], "no process lived long enough to measure"
    assert report["latency_ms"]["p99"] is not None
    assert report["polls_per_run_per_interval"] is not None
