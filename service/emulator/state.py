"""The emulated workspace: jobs, runs, idempotency tokens, faults and stats, with its operations."""

from __future__ import annotations

import itertools
from typing import Literal

from service.emulator.auth import Credentials
from service.emulator.clock import EmulatorClock, ManualClock, lasting
from service.emulator.errors import ApiError, InvalidParameter, job_not_found, run_not_found
from service.emulator.faults import FaultBook, FaultRule
from service.emulator.lifecycle import Outcome, TaskPlan
from service.emulator.render import Workspace
from service.emulator.repair import Repair, RepairRequest, check_latest, chosen_tasks, rerun_plans
from service.emulator.run_now_body import RunNowRequest
from service.emulator.runnow import (
    directives,
    plan_tasks,
    resolved_job_parameters,
    selected_tasks,
)
from service.emulator.runs import JobQueue, RunRecord
from service.emulator.scenario import JobSpec, Scenario
from service.emulator.stats import Stats

FIRST_RUN_ID = 900_000_000_000_001  # run and task run ids share one sequence, as in Databricks
RunFilter = Literal["all", "active", "completed"]


class Emulator:
    """One emulated workspace, created by the app factory and shared by its handlers.

    Every method reads the clock once and settles the job queues first, so what it sees is the
    state at that instant; the control API's operations are methods here too.
    """

    def __init__(
        self, scenario: Scenario, clock: EmulatorClock, *, base_url: str | None = None
    ) -> None:
        self.scenario = scenario
        self.clock = clock
        self.base_url = base_url.rstrip("/") if base_url else None
        self.jobs: dict[int, JobSpec] = {job.job_id: job for job in scenario.jobs.values()}
        self.created_time = clock.now_ms()
        self.stats = Stats()
        self.credentials = Credentials(scenario, clock, self.stats)
        self.faults = FaultBook()
        # Ids keep counting across resets, so a client never sees one id mean two runs.
        self._ids = itertools.count(FIRST_RUN_ID)
        self._clear_runs()

    def _clear_runs(self) -> None:
        self.runs: dict[int, RunRecord] = {}
        self._task_runs: dict[int, RunRecord] = {}
        self._idempotency: dict[str, int] = {}
        self._queues = {
            job.job_id: JobQueue(
                job.max_concurrent_runs, lasting(self.scenario.timings.queued_ms, self.clock.speed)
            )
            for job in self.jobs.values()
        }

    def now(self) -> int:
        """The clock's reading, with every queued run that has started by then started."""
        now = self.clock.now_ms()
        for queue in self._queues.values():
            queue.settle(now)
        return now

    def workspace(self, request_base_url: str) -> Workspace:
        return Workspace(
            base_url=self.base_url or request_base_url.rstrip("/"),
            workspace_id=self.scenario.workspace_id,
            creator=self.scenario.creator_user_name,
            created_time=self.created_time,
            internal_error_quirk=self.scenario.internal_error_on_task_failure,
        )

    def job(self, job_id: int) -> JobSpec:
        try:
            return self.jobs[job_id]
        except KeyError:
            raise job_not_found(job_id) from None

    def run_now(self, request: RunNowRequest) -> RunRecord:
        """Start (or queue, or skip) a run; a known idempotency token returns its run instead."""
        if request.job_id is None:
            raise InvalidParameter("Missing required field: job_id")
        job = self.job(request.job_id)
        token = request.idempotency_token
        if token is not None and token in self._idempotency:
            return self.runs[self._idempotency[token]]
        outcome, duration_ms = directives(request)
        selected = selected_tasks(job, request.only)
        now = self.now()
        run_id = next(self._ids)
        record = RunRecord(
            run_id=run_id,
            job=job,
            created_ms=now,
            plans=plan_tasks(
                job,
                self.scenario.timings,
                self._ids,
                outcome=outcome,
                duration_ms=duration_ms,
                selected=selected,
                speed=self.clock.speed,
            ),
            job_parameters=resolved_job_parameters(job, request.job_parameters),
            overriding_parameters=request.legacy(),
            queue_enabled=request.queue.enabled if request.queue is not None else job.queue,
        )
        self._queues[job.job_id].admit(record, now)
        self.runs[run_id] = record
        self._task_runs.update((plan.run_id, record) for plan in record.plans)
        if token is not None:
            self._idempotency[token] = run_id
        return record

    def repair(self, request: RepairRequest) -> int:
        """Run tasks of a finished run again (runs/repair); the new repair's id."""
        if request.run_id is None:
            raise InvalidParameter("Missing required field: run_id")
        now = self.now()
        record, task = self.find(request.run_id)
        if task is not None:
            raise InvalidParameter(
                f"Run {request.run_id} is a task run: repair its job run {record.run_id}."
            )
        if not record.is_done(now):
            raise InvalidParameter(
                f"Run {record.run_id} is still in progress: only a finished run can be repaired."
            )
        check_latest(record.run_id, record.repairs, request.latest_repair_id)
        chosen = chosen_tasks(record.run_id, record.job, record.timeline, request)
        outcome, duration_ms = directives(request)
        plans = rerun_plans(
            record.job,
            record.plans,
            chosen,
            self._ids,
            outcome=outcome,
            duration_ms=duration_ms,
            speed=self.clock.speed,
        )
        kept = {task.key: task for task in record.timeline.tasks if task.key not in chosen}
        repair = Repair(
            id=next(self._ids),
            start=now,
            kept=kept,
            previous_plans=record.plans,
            previous=record.timeline,
        )
        if request.job_parameters is not None:
            values = {p["name"]: p["value"] for p in record.job_parameters or () if "value" in p}
            record.job_parameters = resolved_job_parameters(
                record.job, {**values, **request.job_parameters}
            )
        record.overriding_parameters = request.legacy() or record.overriding_parameters
        record.repair(repair, plans)
        self._queues[record.job.job_id].hold(record)
        self._task_runs.update((plan.run_id, record) for plan in plans)
        return repair.id

    def find(self, run_id: int) -> tuple[RunRecord, TaskPlan | None]:
        """The job run with this id, or the job run and task of a task run id."""
        if run_id in self.runs:
            return self.runs[run_id], None
        if run_id in self._task_runs:
            record = self._task_runs[run_id]
            return record, record.task(run_id)
        raise run_not_found(run_id)

    def cancel(self, run_id: int) -> None:
        """Cancel a run (a task run id cancels its job run); a finished run stays as it was."""
        now = self.now()
        record, _ = self.find(run_id)
        self._cancel(record, now)

    def _cancel(self, record: RunRecord, now: int) -> None:
        if record.is_done(now) or record.cancel_ms is not None:
            return
        record.cancel_ms = now
        if record.start_ms is None:
            self._queues[record.job.job_id].withdraw(record)
        record.replan()

    def cancel_all(self, job_id: int | None, *, all_queued_runs: bool) -> None:
        """Cancel the active runs of a job, or (all_queued_runs) only the queued ones."""
        if job_id is None and not all_queued_runs:
            raise InvalidParameter("Either job_id or all_queued_runs must be set.")
        if job_id is not None:
            self.job(job_id)
        now = self.now()
        for record in list(self.runs.values()):
            if job_id is not None and record.job.job_id != job_id:
                continue
            if all_queued_runs and record.start_ms is not None:
                continue
            self._cancel(record, now)

    def list_runs(
        self,
        *,
        job_id: int | None = None,
        which: RunFilter = "all",
        start_time_from: int | None = None,
        start_time_to: int | None = None,
    ) -> tuple[int, list[RunRecord]]:
        """(now, matching runs) newest first: by end time, or start time while still active."""
        now = self.now()
        found = [
            record
            for record in self.runs.values()
            if (job_id is None or record.job.job_id == job_id)
            and (which == "all" or record.is_done(now) == (which == "completed"))
            and (start_time_from is None or record.created_ms >= start_time_from)
            and (start_time_to is None or record.created_ms <= start_time_to)
        ]

        def newest_first(record: RunRecord) -> tuple[int, int]:
            moment = record.timeline.end if record.is_done(now) else record.created_ms
            return moment, record.run_id

        return now, sorted(found, key=newest_first, reverse=True)

    # The control API, for in-process tests as much as for /emulator/ routes.

    def add_fault(self, rule: FaultRule) -> None:
        self.faults.add(rule)

    def clear_faults(self) -> None:
        self.faults.clear()

    def reset(self) -> None:
        """Forget runs, idempotency tokens, stats and faults; jobs and credentials stay."""
        self._clear_runs()
        self.stats.reset()
        self.faults.clear()

    def set_outcome(self, run_id: int, outcome: Outcome) -> None:
        """Decide how a run still in progress ends."""
        now = self.now()
        record, _ = self.find(run_id)
        if record.is_done(now) or record.cancel_ms is not None:
            raise ApiError(
                400, "INVALID_STATE", f"Run {record.run_id} has already finished or been cancelled."
            )
        record.override_outcome(outcome, now)

    def advance_clock(self, ms: int) -> int:
        """Move a ManualClock forward; any other clock keeps its own time."""
        if not isinstance(self.clock, ManualClock):
            raise ApiError(
                400, "INVALID_STATE", "Only a ManualClock can be advanced; this one is real time."
            )
        if ms < 0:
            raise InvalidParameter(f"ms must not be negative, not {ms}.")
        self.clock.advance(ms)
        return self.now()
