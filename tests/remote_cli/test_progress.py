"""Progress: the state in words, tasks done of all, and time taken; as a live line, plain lines
or JSON lines."""

from __future__ import annotations

import io
import json

import pytest

from service.client import RunUpdate
from service.remote_cli.progress import (
    CLEAR_LINE,
    JsonLines,
    LiveLine,
    PlainLines,
    clock,
    describe,
    words,
)

START_MS = 1_796_651_000_000


def update(
    state: str, result: str | None = None, *, done: int = 0, took_s: float = 5, message: str = ""
) -> RunUpdate:
    tasks = [
        {
            "task_key": f"t{i}",
            "state": {"life_cycle_state": "TERMINATED" if i < done else "RUNNING"},
        }
        for i in range(3)
    ]
    end = START_MS + int(took_s * 1000) if result else 0
    body = {
        "run_id": 42,
        "state": {"life_cycle_state": state, "state_message": message},
        "tasks": tasks,
        "start_time": START_MS,
        "end_time": end,
    }
    return RunUpdate(
        id="e-1", status=state, result=result, timestamp=START_MS + int(took_s * 1000), run=body
    )


@pytest.mark.parametrize(
    ("state", "result", "said"),
    [
        ("PENDING", None, "starting"),
        ("RUNNING", None, "running"),
        ("TERMINATING", None, "finishing"),
        ("TERMINATED", "SUCCESS", "succeeded"),
        ("TERMINATED", "FAILED", "failed"),
        ("TERMINATED", "CANCELED", "canceled"),
        ("TERMINATED", "TIMEDOUT", "timed out"),
        ("SKIPPED", "SKIPPED", "skipped"),
        ("SOMETHING_NEW", None, "something new"),
    ],
)
def test_states_in_words(state, result, said):
    assert words(state, result, None) == said


def test_a_queued_run_says_why_it_waits():
    run = {
        "status": {"state": "QUEUED", "queue_details": {"message": "Max concurrent runs reached"}}
    }
    assert words("QUEUED", None, run) == "queued (Max concurrent runs reached)"
    assert (
        words("QUEUED", None, {"state": {"queue_reason": "Limit reached"}})
        == "queued (Limit reached)"
    )


@pytest.mark.parametrize(
    ("seconds", "shown"), [(0, "0:00"), (7.9, "0:07"), (754, "12:34"), (3723, "1:02:03")]
)
def test_clock(seconds, shown):
    assert clock(seconds) == shown


def test_a_line_says_state_tasks_and_time_taken():
    assert describe("pipeline", 42, update("RUNNING", done=1, took_s=7), START_MS + 7000) == (
        "pipeline run 42: running, tasks 1/3, 0:07"
    )
    finished = update("TERMINATED", "SUCCESS", done=3, took_s=21)
    assert (
        describe("pipeline", 42, finished, START_MS + 99_000)
        == "pipeline run 42: succeeded, tasks 3/3, 0:21"
    )


def test_plain_lines_are_one_per_change_and_the_reason_of_a_failure():
    out = io.StringIO()
    plain = PlainLines(out, "flaky", 42)
    plain.update(update("RUNNING", took_s=3))
    plain.tick()  # nothing: a pipe gets changes only
    failed = update("INTERNAL_ERROR", "FAILED", done=3, took_s=14, message="Task load failed")
    plain.update(failed)
    plain.finish(failed)
    assert out.getvalue().splitlines() == [
        "flaky run 42: running, tasks 0/3, 0:03",
        "flaky run 42: failed, tasks 3/3, 0:14",
        "  Task load failed",
    ]


def test_the_live_line_is_redrawn_in_place_and_ends_with_a_newline():
    out = io.StringIO()
    live = LiveLine(out, "pipeline", 42)
    live.update(update("RUNNING", done=1))
    live.tick()
    live.update(update("TERMINATED", "SUCCESS", done=3))
    live.finish(update("TERMINATED", "SUCCESS", done=3))
    text = out.getvalue()
    assert "\n" not in text[:-1]
    assert text.count(CLEAR_LINE) == 3
    assert text.endswith("pipeline run 42: succeeded, tasks 3/3, 0:05\n")


def test_the_live_line_fits_the_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "30")
    out = io.StringIO()
    LiveLine(out, "a-job-with-a-long-key", 900000000000001).update(update("RUNNING"))
    drawn = out.getvalue().removeprefix(CLEAR_LINE)
    assert len(drawn) == 29
    assert drawn.endswith("…")


def test_json_lines_are_the_start_then_each_event():
    out = io.StringIO()
    lines = JsonLines(out)
    lines.started({"runId": 42, "idempotencyKey": "k"})
    lines.update(update("RUNNING"))
    first, second = [json.loads(line) for line in out.getvalue().splitlines()]
    assert first == {"event": "run", "runId": 42, "idempotencyKey": "k"}
    assert (second["event"], second["id"], second["status"], second["run"]["run_id"]) == (
        "message",
        "e-1",
        "RUNNING",
        42,
    )
