"""Job runs as records, and each job's concurrency slots and queue, settled lazily on the clock."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec

from service.emulator import lifecycle
from service.emulator.lifecycle import Outcome, TaskPlan, TaskTimeline, Timeline
from service.emulator.repair import Attempt, Repair, attempts
from service.emulator.scenario import JobSpec


@dataclass(eq=False)
class RunRecord:
    """One job run: what run-now asked for, and the timeline that follows from it."""

    run_id: int
    job: JobSpec
    created_ms: int
    plans: tuple[TaskPlan, ...]
    job_parameters: list[dict[str, str]] | None = None
    overriding_parameters: dict[str, Any] | None = None
    queue_enabled: bool = True
    queued: bool = False  # had to wait for a slot
    skipped: bool = False
    start_ms: int | None = None  # when it left the queue (its creation, if it never queued)
    cancel_ms: int | None = None
    repairs: list[Repair] = field(default_factory=list)  # oldest first
    timeline: Timeline = field(init=False)

    def __post_init__(self) -> None:
        self.replan()

    def replan(self) -> None:
        """Recompute the timeline after a start, a cancel, an outcome change or a repair."""
        if self.repairs:
            latest = self.repairs[-1]
            self.timeline = lifecycle.timeline(
                self.plans, latest.start, self.cancel_ms, kept=latest.kept
            )
        elif self.skipped:
            self.timeline = lifecycle.skipped(self.plans, self.created_ms)
        elif self.start_ms is None:
            self.timeline = (
                lifecycle.waiting(self.plans)
                if self.cancel_ms is None
                else lifecycle.cancelled_in_queue(self.plans, self.cancel_ms)
            )
        else:
            self.timeline = lifecycle.timeline(self.plans, self.start_ms, self.cancel_ms)

    def is_done(self, now: int) -> bool:
        return now >= self.timeline.end

    def task(self, run_id: int) -> TaskPlan:
        """The plan of a task run of this run, of the current attempt or an earlier one."""
        return next(
            plan for attempt in self.attempts() for plan in attempt.plans if plan.run_id == run_id
        )

    def task_timeline(self, plan: TaskPlan) -> TaskTimeline:
        """How a task run went, in the latest attempt that holds it."""
        for attempt in reversed(self.attempts()):
            if plan in attempt.plans:
                return next(task for task in attempt.timeline.tasks if task.key == plan.key)
        raise KeyError(plan.run_id)

    def attempts(self) -> list[Attempt]:
        return attempts(self.created_ms, self.plans, self.timeline, self.repairs)

    def repair(self, repair: Repair, plans: tuple[TaskPlan, ...]) -> None:
        """Run the tasks planned anew in `plans`, from `repair.start`; the rest stay as they are."""
        self.repairs.append(repair)
        self.plans = plans
        self.cancel_ms = None
        if self.start_ms is None:  # cancelled (or skipped) before it ever started
            self.start_ms = repair.start
        self.replan()

    def override_outcome(self, outcome: Outcome, now: int) -> None:
        """Decide the outcome of what has not finished yet; what has finished stays as it was."""
        ended = {task.key for task in self.timeline.tasks if task.end <= now}
        open_keys = [plan.key for plan in self.plans if plan.key not in ended and not plan.excluded]
        decisive = open_keys[-1] if open_keys and outcome != "SUCCESS" else None
        self.plans = tuple(
            plan
            if plan.key in ended
            else msgspec.structs.replace(
                plan, outcome=outcome if plan.key == decisive else "SUCCESS"
            )
            for plan in self.plans
        )
        self.replan()


class JobQueue:
    """A job's `max_concurrent_runs` slots and the runs waiting for one, first come first served.

    Nothing runs in the background: `settle(now)` works out, from the end times of the runs
    holding slots, which waiting runs started by `now` and when. Reads settle before they look,
    and since cancels and outcome changes only ever move the future, the past stays as computed.
    """

    def __init__(self, limit: int, queued_min_ms: int) -> None:
        self.limit = limit
        self.queued_min_ms = queued_min_ms
        self._holders: list[RunRecord] = []  # started runs that may still hold a slot
        self._waiting: deque[RunRecord] = deque()
        self._last_start = 0

    def admit(self, run: RunRecord, now: int) -> None:
        """Start a new run now, queue it, or skip it, as the job's concurrency settings say."""
        self.settle(now)
        if self.limit > 0 and not self._waiting and self._in_use(now) < self.limit:
            self._start(run, now)
        elif self.limit > 0 and run.queue_enabled:
            run.queued = True
            self._waiting.append(run)
        else:
            run.skipped = True
            run.replan()

    def settle(self, now: int) -> None:
        while self._waiting:
            run = self._waiting[0]
            start = self._first_free_slot(self._earliest_start(run))
            if start > now:
                break
            self._waiting.popleft()
            self._start(run, start)
        horizon = min(now, self._earliest_start(self._waiting[0])) if self._waiting else now
        # Runs that ended by the horizon can no longer decide any start still to come.
        self._holders = [run for run in self._holders if run.timeline.end > horizon]

    def withdraw(self, run: RunRecord) -> None:
        """Take a cancelled run out of the queue."""
        self._waiting.remove(run)

    def waiting(self) -> Iterator[RunRecord]:
        return iter(tuple(self._waiting))

    def hold(self, run: RunRecord) -> None:
        """A repaired run holds a slot again until its repair ends."""
        if run not in self._holders:
            self._holders.append(run)

    def _start(self, run: RunRecord, at: int) -> None:
        run.start_ms = at
        run.replan()
        self._holders.append(run)
        self._last_start = at

    def _earliest_start(self, run: RunRecord) -> int:
        return max(run.created_ms + self.queued_min_ms, self._last_start)

    def _first_free_slot(self, earliest: int) -> int:
        ends = sorted({run.timeline.end for run in self._holders if run.timeline.end > earliest})
        for t in (earliest, *ends):
            if self._in_use(t) < self.limit:
                return t
        return lifecycle.NEVER

    def _in_use(self, t: int) -> int:
        return sum(1 for run in self._holders if _holds_slot(run, t))


def _holds_slot(run: RunRecord, t: int) -> bool:
    return run.start_ms is not None and run.start_ms <= t < run.timeline.end
