"""A run's life as a pure function of time: when each task starts, runs, ends, and how it ends."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import msgspec

Outcome = Literal["SUCCESS", "FAILED", "INTERNAL_ERROR"]
TaskResult = Literal[
    "SUCCESS",
    "FAILED",
    "INTERNAL_ERROR",
    "CANCELED",
    "UPSTREAM_FAILED",
    "UPSTREAM_CANCELED",
    "EXCLUDED",
    "SKIPPED",
]
RunResult = Literal["SUCCESS", "FAILED", "INTERNAL_ERROR", "CANCELED", "SKIPPED"]
Phase = Literal["QUEUED", "BLOCKED", "PENDING", "RUNNING", "TERMINATING", "DONE"]

NEVER = 2**63 - 1  # the end of a run still waiting in the queue
_SATISFIED: frozenset[str] = frozenset({"SUCCESS", "EXCLUDED"})
_FAILURES: frozenset[str] = frozenset({"FAILED", "INTERNAL_ERROR"})
_CANCELLATIONS: frozenset[str] = frozenset({"CANCELED", "UPSTREAM_CANCELED"})


class TaskPlan(msgspec.Struct, frozen=True, kw_only=True):
    """What a task of one run will do, fixed at run-now (its outcome may still be overridden)."""

    key: str
    run_id: int
    depends_on: tuple[str, ...]
    outcome: Outcome
    setup_ms: int
    exec_ms: int
    cleanup_ms: int
    excluded: bool = False
    attempt: int = 0  # grows by one each time a repair runs the task again


class TaskTimeline(msgspec.Struct, frozen=True, kw_only=True):
    """When a task started, ran and ended (`start` None: it never started)."""

    key: str
    start: int | None
    exec_start: int | None
    exec_end: int | None
    end: int
    result: TaskResult

    def phase(self, t: int, *, run_start: int | None, has_dependencies: bool) -> Phase:
        """The task's phase at `t`; a task still waiting is QUEUED or BLOCKED like in the API."""
        if t >= self.end:
            return "DONE"
        if run_start is None or t < run_start:
            return "BLOCKED" if has_dependencies else "QUEUED"
        if self.start is None or t < self.start:
            return "BLOCKED"
        if self.exec_start is None or t < self.exec_start:
            return "PENDING"
        if self.exec_end is None or t < self.exec_end:
            return "RUNNING"
        return "TERMINATING"


class Timeline(msgspec.Struct, frozen=True, kw_only=True):
    """A whole run: `start` None means it never left the queue; `end` is when it is terminal."""

    start: int | None
    end: int
    result: RunResult
    tasks: tuple[TaskTimeline, ...]
    failed_task: str | None = None  # the task whose failure decided the run's result

    def phase(self, t: int) -> Phase:
        if t >= self.end:
            return "DONE"
        if self.start is None or t < self.start:
            return "QUEUED"
        # Tasks kept from before a repair started before it: they say nothing of this attempt.
        started = [
            task.exec_start
            for task in self.tasks
            if task.exec_start is not None and task.start is not None and task.start >= self.start
        ]
        if not started or t < min(started):
            return "PENDING"
        if all(_executed_by(task, t) for task in self.tasks):
            return "TERMINATING"
        return "RUNNING"


def _executed_by(task: TaskTimeline, t: int) -> bool:
    """Whether the task has nothing left to execute at `t` (it may still be cleaning up)."""
    if task.start is None or task.exec_start is None:
        return t >= task.end
    return task.exec_end is not None and t >= task.exec_end


def skipped(tasks: Sequence[TaskPlan], at: int) -> Timeline:
    """A run turned away at creation because the job was at its concurrency limit."""
    timelines = tuple(_never_started(task.key, at, "SKIPPED") for task in tasks)
    return Timeline(start=None, end=at, result="SKIPPED", tasks=timelines)


def cancelled_in_queue(tasks: Sequence[TaskPlan], at: int) -> Timeline:
    """A run cancelled before it left the queue: it ends at once, nothing having started."""
    timelines = tuple(_never_started(task.key, at, "CANCELED") for task in tasks)
    return Timeline(start=None, end=at, result="CANCELED", tasks=timelines)


def waiting(tasks: Sequence[TaskPlan]) -> Timeline:
    """A queued run whose start is not known yet, so neither is its end."""
    timelines = tuple(_never_started(task.key, NEVER, "SUCCESS") for task in tasks)
    return Timeline(start=None, end=NEVER, result="SUCCESS", tasks=timelines)


def timeline(
    tasks: Sequence[TaskPlan],
    start: int,
    cancel: int | None = None,
    *,
    kept: Mapping[str, TaskTimeline] | None = None,
) -> Timeline:
    """Lay out a started run; `tasks` must list every dependency before its dependants.

    A cancel at `cancel` stops what is pending or running (running tasks clean up first), and
    every task not started by then ends UPSTREAM_CANCELED. Tasks already cleaning up finish as
    they would have, so a run cancelled while TERMINATING keeps its outcome. A repair starting
    at `start` keeps the tasks it does not run again as they ended (`kept`).
    """
    natural: dict[str, TaskTimeline] = dict(kept or {})
    for task in tasks:
        if task.key not in natural:
            natural[task.key] = _natural(task, start, [natural[key] for key in task.depends_on])
    plans = {task.key: task for task in tasks}
    laid_out = [
        natural[task.key] if cancel is None else _cancelled(natural[task.key], plans, cancel)
        for task in tasks
    ]
    end = max((task.end for task in laid_out), default=start)
    done = Timeline(start=start, end=end, result="SUCCESS", tasks=tuple(laid_out))
    if any(task.result in _CANCELLATIONS for task in laid_out):
        return msgspec.structs.replace(done, result="CANCELED")
    failures = [task for task in laid_out if task.result in _FAILURES]
    if not failures:
        # A repair may keep a task that an earlier failure stopped: the run still failed.
        stopped = [task for task in laid_out if task.result == "UPSTREAM_FAILED"]
        return (
            msgspec.structs.replace(done, result="FAILED", failed_task=stopped[0].key)
            if stopped
            else done
        )
    first = min(failures, key=lambda task: task.end)  # min is stable: the earliest in task order
    result: RunResult = "INTERNAL_ERROR" if first.result == "INTERNAL_ERROR" else "FAILED"
    return msgspec.structs.replace(done, result=result, failed_task=first.key)


def _natural(task: TaskPlan, run_start: int, dependencies: list[TaskTimeline]) -> TaskTimeline:
    if task.excluded:
        return _never_started(task.key, run_start, "EXCLUDED")
    unsatisfied = [dep for dep in dependencies if dep.result not in _SATISFIED]
    if unsatisfied:
        # Not before the run (or repair) starts: a dependency kept from before ended earlier.
        ended = max(run_start, min(dep.end for dep in unsatisfied))
        return _never_started(task.key, ended, "UPSTREAM_FAILED")
    begin = max([run_start, *(dep.end for dep in dependencies)])
    exec_start = begin + task.setup_ms
    exec_end = exec_start + task.exec_ms
    return TaskTimeline(
        key=task.key,
        start=begin,
        exec_start=exec_start,
        exec_end=exec_end,
        end=exec_end + task.cleanup_ms,
        result=task.outcome,
    )


def _cancelled(task: TaskTimeline, plans: dict[str, TaskPlan], at: int) -> TaskTimeline:
    if task.end <= at:
        return task  # already over
    if task.start is None or task.start > at or task.exec_start is None:
        return _never_started(task.key, at, "UPSTREAM_CANCELED")
    if task.exec_end is not None and task.exec_end <= at:
        return task  # cleaning up: it ends as it would have
    if at < task.exec_start:
        return msgspec.structs.replace(
            task, exec_start=None, exec_end=None, end=at, result="CANCELED"
        )
    return msgspec.structs.replace(
        task, exec_end=at, end=at + plans[task.key].cleanup_ms, result="CANCELED"
    )


def _never_started(key: str, end: int, result: TaskResult) -> TaskTimeline:
    return TaskTimeline(key=key, start=None, exec_start=None, exec_end=None, end=end, result=result)
