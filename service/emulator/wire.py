"""The Jobs API response shapes the emulator sends; fields left at None are omitted on the wire."""

from __future__ import annotations

from typing import Any

import msgspec

# The run's task-type object, by the scenario's task type.
TASK_FIELDS = {
    "notebook": "notebook_task",
    "python_wheel": "python_wheel_task",
    "python_script": "spark_python_task",
    "spark_jar": "spark_jar_task",
    "sql": "sql_task",
    "dbt": "dbt_task",
}


class _Wire(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Required fields are always sent (`end_time: 0` included); optional ones only when set."""


class RunState(_Wire, kw_only=True):
    life_cycle_state: str
    result_state: str | None = None
    state_message: str
    user_cancelled_or_timedout: bool
    queue_reason: str | None = None


class TerminationDetails(_Wire, kw_only=True):
    code: str
    type: str
    message: str


class QueueDetails(_Wire, kw_only=True):
    code: str
    message: str


class RunStatus(_Wire, kw_only=True):
    state: str
    termination_details: TerminationDetails | None = None
    queue_details: QueueDetails | None = None


class TaskDependency(_Wire, kw_only=True):
    task_key: str


class _TaskTypes(_Wire, kw_only=True):
    notebook_task: dict[str, Any] | None = None
    python_wheel_task: dict[str, Any] | None = None
    spark_python_task: dict[str, Any] | None = None
    spark_jar_task: dict[str, Any] | None = None
    sql_task: dict[str, Any] | None = None
    dbt_task: dict[str, Any] | None = None


class RunTask(_TaskTypes, kw_only=True):
    task_key: str
    run_id: int
    job_run_id: int
    attempt_number: int
    depends_on: list[TaskDependency] | None = None
    run_if: str
    timeout_seconds: int
    state: RunState
    status: RunStatus
    start_time: int
    end_time: int
    setup_duration: int
    execution_duration: int
    cleanup_duration: int
    run_duration: int
    queue_duration: int
    run_page_url: str


class RepairHistoryItem(_Wire, kw_only=True):
    type: str  # ORIGINAL | REPAIR
    id: int | None = None  # a repair's id; the original has none
    start_time: int
    end_time: int
    state: RunState
    status: RunStatus
    task_run_ids: list[int]


class Run(_Wire, kw_only=True):
    job_id: int
    run_id: int
    number_in_job: int
    job_run_id: int | None = None
    original_attempt_run_id: int
    attempt_number: int
    run_name: str
    description: str | None = None
    creator_user_name: str
    run_type: str
    trigger: str
    format: str
    state: RunState
    status: RunStatus
    start_time: int
    end_time: int
    setup_duration: int
    execution_duration: int
    cleanup_duration: int
    run_duration: int
    queue_duration: int
    run_page_url: str
    tasks: list[RunTask] | None = None
    job_parameters: list[dict[str, str]] | None = None
    overriding_parameters: dict[str, Any] | None = None
    repair_history: list[RepairHistoryItem] | None = None
    has_more: bool | None = None
    next_page_token: str | None = None


class ListRunsResponse(_Wire, kw_only=True):
    runs: list[Run] | None = None
    has_more: bool
    next_page_token: str | None = None
    prev_page_token: str | None = None


class RunNowResponse(_Wire, kw_only=True):
    run_id: int
    number_in_job: int


class RepairRunResponse(_Wire, kw_only=True):
    repair_id: int


class RunOutput(_Wire, kw_only=True):
    metadata: Run
    notebook_output: dict[str, Any] | None = None
    sql_output: dict[str, Any] | None = None
    dbt_output: dict[str, Any] | None = None
    logs: str | None = None
    logs_truncated: bool | None = None
    error: str | None = None
    error_trace: str | None = None


class JobTask(_TaskTypes, kw_only=True):
    task_key: str
    depends_on: list[TaskDependency] | None = None
    run_if: str
    timeout_seconds: int
    email_notifications: dict[str, Any]


class JobSettings(_Wire, kw_only=True):
    name: str
    description: str | None = None
    format: str
    max_concurrent_runs: int
    queue: dict[str, bool]
    timeout_seconds: int
    email_notifications: dict[str, Any]
    webhook_notifications: dict[str, Any]
    parameters: list[dict[str, str]] | None = None
    tasks: list[JobTask] | None = None


class Job(_Wire, kw_only=True):
    job_id: int
    creator_user_name: str
    run_as_user_name: str
    created_time: int
    settings: JobSettings
    has_more: bool | None = None
    next_page_token: str | None = None


class ListJobsResponse(_Wire, kw_only=True):
    jobs: list[Job] | None = None
    has_more: bool
    next_page_token: str | None = None
    prev_page_token: str | None = None
