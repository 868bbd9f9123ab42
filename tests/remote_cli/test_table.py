"""`runs` as a table: every line fits the terminal's width, the run id and state always shown."""

from __future__ import annotations

import pytest

from service.remote_cli.table import render

NOW_MS = 1_796_651_200_000


def listed(run_id: int, job: str, state: str, result: str | None, took_s: int) -> dict:
    start = NOW_MS - 60_000
    end = start + took_s * 1000 if result else 0
    life = {"life_cycle_state": state, **({"result_state": result} if result else {})}
    return {
        "run_id": run_id,
        "jobKey": job,
        "state": life,
        "result": result,
        "start_time": start,
        "end_time": end,
    }


RUNS = [
    listed(900000000000012, "pipeline", "RUNNING", None, 0),
    listed(900000000000011, "a-job-with-a-rather-long-key", "TERMINATED", "SUCCESS", 7),
    listed(900000000000010, "flaky", "INTERNAL_ERROR", "FAILED", 14),
]


def test_a_wide_terminal_shows_every_column():
    lines = render(RUNS, 160, NOW_MS)
    assert lines[0].split() == ["RUN", "ID", "JOB", "STATE", "STARTED", "DURATION"]
    assert lines[1].split()[:3] == ["900000000000012", "pipeline", "running"]
    assert lines[1].endswith("1:00")  # still running: until now
    assert lines[2].split()[1:3] == ["a-job-with-a-rather-long-key", "succeeded"]
    assert lines[2].endswith("0:07")
    assert lines[3].split()[2] == "failed"


@pytest.mark.parametrize("width", [30, 40, 50, 60, 80, 100])
def test_every_line_fits_the_width(width):
    lines = render(RUNS, width, NOW_MS)
    assert max(len(line) for line in lines) <= width
    assert all("9000000000000" in line for line in lines[1:])  # the run id stays


def test_a_narrow_terminal_cuts_the_job_key_before_dropping_columns():
    lines = render(RUNS, 75, NOW_MS)
    assert "STARTED" in lines[0]
    assert "a-job-with" in lines[2]
    assert "…" in lines[2]
