"""states.js in chromium: each Databricks state in people's words, with its kind and raw state."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.stack import served

pytestmark = [pytest.mark.looptime(False), pytest.mark.asyncio(loop_scope="session")]
QUEUED = {"code": "MAX_CONCURRENT_RUNS_REACHED", "reason": "Queued due to reaching maximum..."}
CASES: list[tuple[str | None, str | None, dict[str, Any] | None, list[str]]] = [
    ("TERMINATED", "SUCCESS", None, ["Succeeded", "succeeded", "TERMINATED SUCCESS"]),
    ("TERMINATED", "FAILED", None, ["Failed", "failed", "TERMINATED FAILED"]),
    ("INTERNAL_ERROR", "FAILED", None, ["Failed", "failed", "INTERNAL_ERROR FAILED"]),
    ("INTERNAL_ERROR", None, None, ["Failed: internal error", "failed", "INTERNAL_ERROR"]),
    ("TERMINATED", "CANCELED", None, ["Canceled", "canceled", "TERMINATED CANCELED"]),
    ("TERMINATED", "TIMEDOUT", None, ["Timed out", "failed", "TERMINATED TIMEDOUT"]),
    (
        "SKIPPED",
        "MAXIMUM_CONCURRENT_RUNS_REACHED",
        None,
        [
            "Skipped: max concurrent runs reached",
            "notrun",
            "SKIPPED MAXIMUM_CONCURRENT_RUNS_REACHED",
        ],
    ),
    (
        "QUEUED",
        None,
        QUEUED,
        ["Queued: max concurrent runs reached", "waiting", "QUEUED (MAX_CONCURRENT_RUNS_REACHED)"],
    ),
    ("QUEUED", None, None, ["Queued", "waiting", "QUEUED"]),
    ("PENDING", None, None, ["Starting", "waiting", "PENDING"]),
    ("RUNNING", None, None, ["Running", "running", "RUNNING"]),
    ("TERMINATING", None, None, ["Finishing", "running", "TERMINATING"]),
    ("SOMETHING_NEW", None, None, ["Something new", "notrun", "SOMETHING_NEW"]),
]


@pytest.mark.parametrize(("status", "result", "queue", "expected"), CASES)
async def test_a_run_state_reads_in_words_keeping_the_raw_state(
    browser, status, result, queue, expected
):
    async with served(speed=10) as s:
        page = await browser.new_page()
        await page.goto(f"{s.url}/states.js")
        got = await page.evaluate(
            """async ([status, result, queue]) => {
                const { runState } = await import("/states.js");
                const state = runState(status, result, { queue });
                return [state.words, state.kind, state.raw];
            }""",
            [status, result, queue],
        )
    assert got == expected


@pytest.mark.parametrize(
    ("task", "ended", "expected"),
    [
        (None, False, "Not run yet"),
        (None, True, "Not run"),
        ({"state": {"life_cycle_state": "BLOCKED"}, "start_time": 0}, False, "Not run yet"),
        (
            {"state": {"life_cycle_state": "TERMINATED", "result_state": "UPSTREAM_FAILED"}},
            True,
            "Upstream failed",
        ),
        ({"state": {"life_cycle_state": "SKIPPED"}, "start_time": 0}, True, "Skipped"),
        ({"state": {"life_cycle_state": "RUNNING"}, "start_time": 5}, False, "Running"),
    ],
)
async def test_a_task_that_did_not_run_says_so(browser, task, ended, expected):
    async with served(speed=10) as s:
        page = await browser.new_page()
        await page.goto(f"{s.url}/states.js")
        got = await page.evaluate(
            """async ([task, ended]) => {
                const { taskState } = await import("/states.js");
                return taskState(task, ended).words;
            }""",
            [task, ended],
        )
    assert got == expected
