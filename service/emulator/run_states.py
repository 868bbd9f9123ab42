"""What the API says about a phase or a result: the `state` (v1) and `status` (v2) objects."""

from __future__ import annotations

from typing import NamedTuple

from service.emulator.lifecycle import Phase, RunResult, TaskResult
from service.emulator.wire import QueueDetails, RunState, RunStatus, TerminationDetails

TASK_FAILED = "Workload failed, see run output for details"
INTERNAL_FAILURE = "Internal error: the emulated cluster became unreachable."
CANCELLED = "Run cancelled."


class Ending(NamedTuple):
    """How a finished run or task is reported, in both state vocabularies."""

    life_cycle_state: str
    result_state: str | None
    message: str
    by_user: bool
    code: str
    type: str


_TASK_ENDINGS: dict[TaskResult, Ending] = {
    "SUCCESS": Ending("TERMINATED", "SUCCESS", "", False, "SUCCESS", "SUCCESS"),
    "FAILED": Ending(
        "TERMINATED", "FAILED", TASK_FAILED, False, "RUN_EXECUTION_ERROR", "CLIENT_ERROR"
    ),
    "INTERNAL_ERROR": Ending(
        "INTERNAL_ERROR", None, INTERNAL_FAILURE, False, "INTERNAL_ERROR", "INTERNAL_ERROR"
    ),
    "CANCELED": Ending("TERMINATED", "CANCELED", CANCELLED, True, "USER_CANCELED", "SUCCESS"),
    "UPSTREAM_FAILED": Ending(
        "SKIPPED", "UPSTREAM_FAILED", "Upstream task failed.", False, "SKIPPED", "SUCCESS"
    ),
    "UPSTREAM_CANCELED": Ending(
        "SKIPPED", "UPSTREAM_CANCELED", "Upstream task was cancelled.", False, "SKIPPED", "SUCCESS"
    ),
    "EXCLUDED": Ending(
        "SKIPPED", "EXCLUDED", "Task was not selected to run.", False, "SKIPPED", "SUCCESS"
    ),
}


def queue_message(limit: int) -> str:
    return f"Queued due to reaching maximum concurrent runs of {limit}."


def skip_message(limit: int) -> str:
    return (
        f"Skipping this run because the limit of {limit} maximum concurrent runs has been reached."
    )


def skip_ending(limit: int) -> Ending:
    return Ending(
        "SKIPPED",
        "MAXIMUM_CONCURRENT_RUNS_REACHED",
        skip_message(limit),
        False,
        "MAX_CONCURRENT_RUNS_EXCEEDED",
        "CLIENT_ERROR",
    )


def task_ending(result: TaskResult, limit: int) -> Ending:
    return skip_ending(limit) if result == "SKIPPED" else _TASK_ENDINGS[result]


def run_ending(
    result: RunResult, failed_task: str | None, limit: int, *, internal_error_quirk: bool
) -> Ending:
    """A job run's ending. A failed task makes the run INTERNAL_ERROR/FAILED (the real quirk)."""
    if result == "SKIPPED":
        return skip_ending(limit)
    if result == "FAILED":
        message = f"Task {failed_task} failed with message: {TASK_FAILED}."
        life_cycle = "INTERNAL_ERROR" if internal_error_quirk else "TERMINATED"
        return Ending(life_cycle, "FAILED", message, False, "RUN_EXECUTION_ERROR", "CLIENT_ERROR")
    if result == "INTERNAL_ERROR":
        message = f"Task {failed_task} failed with message: {INTERNAL_FAILURE}"
        return Ending("INTERNAL_ERROR", None, message, False, "INTERNAL_ERROR", "INTERNAL_ERROR")
    return _TASK_ENDINGS[result]


def describe(
    phase: Phase, ending: Ending, *, queue_reason: str | None
) -> tuple[RunState, RunStatus]:
    """The state and status objects of a run or task in `phase`, bound for `ending`."""
    if phase == "DONE":
        state = RunState(
            life_cycle_state=ending.life_cycle_state,
            result_state=ending.result_state,
            state_message=ending.message,
            user_cancelled_or_timedout=ending.by_user,
        )
        return state, RunStatus(state="TERMINATED", termination_details=_details(ending))
    reason = queue_reason if phase == "QUEUED" else None
    state = RunState(
        life_cycle_state=phase,
        state_message="",
        user_cancelled_or_timedout=False,
        queue_reason=reason,
    )
    status = RunStatus(
        state=phase,
        # Known from the moment cleanup starts: the outcome is decided by then.
        termination_details=_details(ending) if phase == "TERMINATING" else None,
        queue_details=QueueDetails(code="MAX_CONCURRENT_RUNS_REACHED", message=reason)
        if reason
        else None,
    )
    return state, status


def _details(ending: Ending) -> TerminationDetails:
    return TerminationDetails(code=ending.code, type=ending.type, message=ending.message)
