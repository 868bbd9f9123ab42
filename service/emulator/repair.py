"""runs/repair: which tasks of a finished run run again, their new task runs, and the history.

A repair runs tasks again inside the same job run: the run id stays, each task run again gets
a new task run id and the next attempt number, the tasks not chosen keep how they ended, and
the run's life cycle starts over from the repair. After the first repair, every repair must
name the latest one (`latest_repair_id`), so a blind retry of a repair that went through is
refused rather than made twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import msgspec

from service.emulator.clock import lasting
from service.emulator.errors import InvalidParameter
from service.emulator.inputs import decode_body
from service.emulator.lifecycle import Outcome, TaskPlan, TaskTimeline, Timeline
from service.emulator.run_now_body import RunNowRequest
from service.emulator.runnow import check_params
from service.emulator.scenario import JobSpec

# Task results a repair of "all failed tasks" runs again: the failures, and what they stopped.
UNSUCCESSFUL = frozenset(
    {"FAILED", "INTERNAL_ERROR", "CANCELED", "UPSTREAM_FAILED", "UPSTREAM_CANCELED"}
)


class RepairRequest(RunNowRequest, kw_only=True):
    """The runs/repair body: which run, which tasks, and the parameters run-now also takes."""

    run_id: int | None = None
    rerun_all_failed_tasks: bool = False
    rerun_tasks: list[str] | None = None
    rerun_dependent_tasks: bool = False
    latest_repair_id: int | None = None


class Repair(msgspec.Struct, frozen=True, kw_only=True):
    """One repair of a run, and the attempt it followed (for `repair_history`)."""

    id: int
    start: int
    kept: dict[str, TaskTimeline]  # the tasks not run again, as they ended
    previous_plans: tuple[TaskPlan, ...]
    previous: Timeline


class Attempt(NamedTuple):
    """The original run or one repair: its id (None: the original), start, tasks, timeline."""

    repair_id: int | None
    start: int
    plans: tuple[TaskPlan, ...]
    timeline: Timeline
    task_run_ids: tuple[int, ...]


def decode_repair(body: bytes) -> RepairRequest:
    request = decode_body(body, RepairRequest)
    if request.run_id is None:
        raise InvalidParameter("Missing required field: run_id")
    check_params(request)
    return request


def check_latest(run_id: int, repairs: list[Repair], latest_repair_id: int | None) -> None:
    """After a first repair, the latest repair's id must be given; a stale one is refused."""
    if not repairs:
        if latest_repair_id is not None:
            raise InvalidParameter(
                f"Run {run_id} has not been repaired: {latest_repair_id} is not its latest repair."
            )
        return
    latest = repairs[-1].id
    if latest_repair_id is None:
        raise InvalidParameter(
            f"The latest repair ID needs to be provided to repair run {run_id} again."
        )
    if latest_repair_id != latest:
        raise InvalidParameter(
            f"The latest repair ID {latest_repair_id} is not the latest repair of run {run_id}."
        )


def chosen_tasks(
    run_id: int, job: JobSpec, timeline: Timeline, request: RepairRequest
) -> list[str]:
    """The task keys to run again, in the job's task order."""
    asked = request.rerun_tasks or []
    if request.rerun_all_failed_tasks and asked:
        raise InvalidParameter("Only one of rerun_tasks or rerun_all_failed_tasks can be set.")
    if not request.rerun_all_failed_tasks and not asked:
        raise InvalidParameter("Either rerun_tasks or rerun_all_failed_tasks must be set.")
    results = {task.key: task.result for task in timeline.tasks}
    for key in asked:
        if key not in results:
            raise InvalidParameter(f"Task {key} does not exist in run {run_id}.")
    chosen = (
        {key for key, result in results.items() if result in UNSUCCESSFUL}
        if request.rerun_all_failed_tasks
        else set(asked)
    )
    if not chosen:
        raise InvalidParameter(f"Run {run_id} has no failed tasks to repair.")
    if request.rerun_dependent_tasks:
        chosen |= _dependants(job, chosen)
    return [task.task_key for task in job.task_order() if task.task_key in chosen]


def rerun_plans(
    job: JobSpec,
    plans: tuple[TaskPlan, ...],
    chosen: list[str],
    ids: Iterator[int],
    *,
    outcome: Outcome | None,
    duration_ms: int | None,
    speed: float,
) -> tuple[TaskPlan, ...]:
    """The run's plans with each chosen task planned anew: a new task run id, the next attempt.

    A requested outcome falls on the last chosen task; otherwise a task ends as its scenario's
    `repair_outcome` says, else as it was planned to end the first time.
    """
    specs = {task.task_key: task for task in job.tasks}
    last = chosen[-1]
    replanned = []
    for plan in plans:
        if plan.key not in chosen:
            replanned.append(plan)
            continue
        ends: Outcome = specs[plan.key].repair_outcome or plan.outcome
        if outcome is not None:
            ends = outcome if plan.key == last else "SUCCESS"
        replanned.append(
            msgspec.structs.replace(
                plan,
                run_id=next(ids),
                attempt=plan.attempt + 1,
                outcome=ends,
                excluded=False,
                exec_ms=plan.exec_ms if duration_ms is None else lasting(duration_ms, speed),
            )
        )
    return tuple(replanned)


def attempts(
    created_ms: int, plans: tuple[TaskPlan, ...], timeline: Timeline, repairs: list[Repair]
) -> list[Attempt]:
    """The original run and each repair, oldest first; the last is the current one."""
    found: list[Attempt] = []
    steps = [(None, created_ms), *((r.id, r.start) for r in repairs)]
    laid = [*((r.previous_plans, r.previous) for r in repairs), (plans, timeline)]
    before: set[int] = set()
    for (repair_id, start), (attempt_plans, attempt_timeline) in zip(steps, laid, strict=True):
        ran = tuple(plan.run_id for plan in attempt_plans if plan.run_id not in before)
        found.append(Attempt(repair_id, start, attempt_plans, attempt_timeline, ran))
        before.update(plan.run_id for plan in attempt_plans)
    return found


def _dependants(job: JobSpec, keys: set[str]) -> set[str]:
    found: set[str] = set()
    todo = list(keys)
    while todo:
        key = todo.pop()
        for task in job.tasks:
            if key in task.depends_on and task.task_key not in found:
                found.add(task.task_key)
                todo.append(task.task_key)
    return found
