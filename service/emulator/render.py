"""Runs and jobs as the API shows them at a given moment: records in, wire structs out."""

from __future__ import annotations

from typing import Any

import msgspec

from service.emulator.lifecycle import TaskPlan, TaskTimeline
from service.emulator.runs import RunRecord
from service.emulator.scenario import JobSpec, TaskSpec
from service.emulator.states import describe, queue_message, run_ending, task_ending
from service.emulator.wire import (
    TASK_FIELDS,
    Job,
    JobSettings,
    JobTask,
    RepairHistoryItem,
    Run,
    RunTask,
    TaskDependency,
)


class Workspace(msgspec.Struct, frozen=True, kw_only=True):
    """What every rendered object needs to know about the workspace serving it."""

    base_url: str
    workspace_id: int
    creator: str
    created_time: int
    internal_error_quirk: bool

    def page_url(self, job_id: int, run_id: int) -> str:
        return f"{self.base_url}/?o={self.workspace_id}#job/{job_id}/run/{run_id}"


def render_run(
    record: RunRecord,
    now: int,
    ws: Workspace,
    *,
    with_tasks: bool = True,
    tasks_from: int = 0,
    tasks_max: int | None = None,
    with_history: bool = False,
) -> Run:
    """A job run; `tasks_from`/`tasks_max` cut one page out of `tasks` (API 2.2);
    `with_history`: its `repair_history` (include_history=true), on the first page."""
    timeline = record.timeline
    phase = timeline.phase(now)
    limit = record.job.max_concurrent_runs
    ending = run_ending(
        timeline.result, timeline.failed_task, limit, internal_error_quirk=ws.internal_error_quirk
    )
    state, status = describe(phase, ending, queue_reason=queue_message(limit))
    done = phase == "DONE"
    tasks = [render_task(record, plan, now, ws) for plan in record.plans]
    # A one-task run reports its task's durations; multi-task runs report 0 and use run_duration.
    only = tasks[0] if len(tasks) == 1 and done else None
    end = tasks_from + tasks_max if tasks_max is not None else None
    return Run(
        job_id=record.job.job_id,
        run_id=record.run_id,
        number_in_job=record.run_id,
        job_run_id=record.run_id,
        original_attempt_run_id=record.run_id,
        attempt_number=0,
        run_name=record.job.name,
        description=record.job.description,
        creator_user_name=ws.creator,
        run_type="JOB_RUN",
        trigger="ONE_TIME",
        format="MULTI_TASK",
        state=state,
        status=status,
        start_time=record.created_ms,
        end_time=timeline.end if done else 0,
        setup_duration=only.setup_duration if only else 0,
        execution_duration=only.execution_duration if only else 0,
        cleanup_duration=only.cleanup_duration if only else 0,
        run_duration=timeline.end - record.created_ms if done else 0,
        queue_duration=_queue_duration(record, now),
        run_page_url=ws.page_url(record.job.job_id, record.run_id),
        tasks=tasks[tasks_from:end] if with_tasks else None,
        # Arrays delivered whole on the first page are empty on later ones (API 2.2).
        job_parameters=record.job_parameters if tasks_from == 0 else None,
        overriding_parameters=record.overriding_parameters,
        repair_history=render_history(record, now, ws) if with_history and not tasks_from else None,
    )


def render_history(record: RunRecord, now: int, ws: Workspace) -> list[RepairHistoryItem]:
    """The original run and each repair: when, how each ended (or is going), its task runs."""
    limit = record.job.max_concurrent_runs
    items = []
    for attempt in record.attempts():
        timeline = attempt.timeline
        ending = run_ending(
            timeline.result,
            timeline.failed_task,
            limit,
            internal_error_quirk=ws.internal_error_quirk,
        )
        phase = timeline.phase(now)
        state, status = describe(phase, ending, queue_reason=queue_message(limit))
        items.append(
            RepairHistoryItem(
                type="ORIGINAL" if attempt.repair_id is None else "REPAIR",
                id=attempt.repair_id,
                start_time=attempt.start,
                end_time=timeline.end if phase == "DONE" else 0,
                state=state,
                status=status,
                task_run_ids=list(attempt.task_run_ids),
            )
        )
    return items


def render_task(record: RunRecord, plan: TaskPlan, now: int, ws: Workspace) -> RunTask:
    timeline = record.task_timeline(plan)
    phase = timeline.phase(
        now, run_start=record.timeline.start, has_dependencies=bool(plan.depends_on)
    )
    ending = task_ending(timeline.result, record.job.max_concurrent_runs)
    state, status = describe(phase, ending, queue_reason=None)
    started = timeline.start is not None and now >= timeline.start
    setup, execution, cleanup = _durations(timeline) if phase == "DONE" else (0, 0, 0)
    spec = task_spec(record.job, plan.key)
    field, task_object = task_type_object(record.job, spec)
    return RunTask(
        task_key=plan.key,
        run_id=plan.run_id,
        job_run_id=record.run_id,
        attempt_number=plan.attempt,
        depends_on=_dependencies(plan.depends_on),
        run_if="ALL_SUCCESS",
        timeout_seconds=0,
        state=state,
        status=status,
        start_time=timeline.start if started and timeline.start is not None else 0,
        end_time=timeline.end if phase == "DONE" else 0,
        setup_duration=setup,
        execution_duration=execution,
        cleanup_duration=cleanup,
        run_duration=setup + execution + cleanup,
        queue_duration=0,
        run_page_url=ws.page_url(record.job.job_id, plan.run_id),
        **{field: task_object},
    )


def render_task_run(record: RunRecord, plan: TaskPlan, now: int, ws: Workspace) -> Run:
    """A task run looked up by its own id: a run object of its own, as the API answers."""
    task = render_task(record, plan, now, ws)
    parent = render_run(record, now, ws, with_tasks=False)
    first = next(p for p in record.attempts()[0].plans if p.key == plan.key)
    return msgspec.structs.replace(
        parent,
        run_id=plan.run_id,
        number_in_job=plan.run_id,
        original_attempt_run_id=first.run_id,
        attempt_number=plan.attempt,
        run_name=plan.key,
        state=task.state,
        status=task.status,
        start_time=task.start_time,
        end_time=task.end_time,
        setup_duration=task.setup_duration,
        execution_duration=task.execution_duration,
        cleanup_duration=task.cleanup_duration,
        run_duration=task.run_duration,
        queue_duration=task.queue_duration,
        run_page_url=task.run_page_url,
        tasks=[task],
    )


def render_job(job: JobSpec, ws: Workspace, *, with_tasks: bool = True) -> Job:
    tasks = [
        JobTask(
            task_key=task.task_key,
            depends_on=_dependencies(task.depends_on),
            run_if="ALL_SUCCESS",
            timeout_seconds=0,
            email_notifications={},
            **dict([task_type_object(job, task)]),
        )
        for task in job.tasks
    ]
    parameters = [{"name": p.name, "default": p.default} for p in job.parameters]
    settings = JobSettings(
        name=job.name,
        description=job.description,
        format="MULTI_TASK",
        max_concurrent_runs=job.max_concurrent_runs,
        queue={"enabled": job.queue},
        timeout_seconds=0,
        email_notifications={},
        webhook_notifications={},
        parameters=parameters or None,
        tasks=tasks if with_tasks else None,
    )
    return Job(
        job_id=job.job_id,
        creator_user_name=ws.creator,
        run_as_user_name=ws.creator,
        created_time=ws.created_time,
        settings=settings,
    )


def task_spec(job: JobSpec, key: str) -> TaskSpec:
    return next(task for task in job.tasks if task.task_key == key)


def task_type_object(job: JobSpec, task: TaskSpec) -> tuple[str, dict[str, Any]]:
    """The task's `*_task` object: the scenario's `spec`, or a plausible one for its type."""
    field = TASK_FIELDS[task.type]
    if task.spec is not None:
        return field, dict(task.spec)
    folder = f"/Workspace/Jobs/{job.name}"
    generated: dict[str, dict[str, Any]] = {
        "notebook": {"notebook_path": f"{folder}/{task.task_key}", "source": "WORKSPACE"},
        "python_wheel": {
            "package_name": job.name.replace("-", "_"),
            "entry_point": task.task_key,
        },
        "python_script": {"python_file": f"{folder}/{task.task_key}.py", "source": "WORKSPACE"},
        "spark_jar": {"main_class_name": f"com.example.{task.task_key.capitalize()}"},
        "sql": {"warehouse_id": "emulator-warehouse", "query": {"query_id": task.task_key}},
        "dbt": {"commands": ["dbt deps", "dbt build"], "warehouse_id": "emulator-warehouse"},
    }
    return field, generated[task.type]


def _queue_duration(record: RunRecord, now: int) -> int:
    if not record.queued:
        return 0
    left = record.start_ms if record.start_ms is not None else record.timeline.end
    return max(0, min(left, now) - record.created_ms)


def _durations(task: TaskTimeline) -> tuple[int, int, int]:
    if task.start is None:
        return 0, 0, 0
    if task.exec_start is None:
        return task.end - task.start, 0, 0
    exec_end = task.exec_end if task.exec_end is not None else task.end
    return task.exec_start - task.start, exec_end - task.exec_start, task.end - exec_end


def _dependencies(keys: tuple[str, ...]) -> list[TaskDependency] | None:
    return [TaskDependency(task_key=key) for key in sorted(keys)] or None
