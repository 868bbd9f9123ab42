"""run-now: the body's checks, the run's directives, and the task plans a new run follows."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import get_args

from service.emulator.clock import lasting
from service.emulator.errors import InvalidParameter
from service.emulator.inputs import decode_body
from service.emulator.lifecycle import Outcome, TaskPlan
from service.emulator.run_now_body import (
    LEGACY_PARAMS,
    MAX_PARAM_BYTES,
    MAX_TOKEN_CHARS,
    RunNowRequest,
)
from service.emulator.scenario import JobSpec, Timings

OUTCOME_KEY = "emulator_outcome"
DURATION_KEY = "emulator_duration_ms"
_DIRECTIVE_SOURCES = ("job_parameters", "notebook_params", "python_named_params", "sql_params")


def decode_run_now(body: bytes) -> RunNowRequest:
    """Parse and check a run-now body (the job's existence is checked by the caller)."""
    request = decode_body(body, RunNowRequest)
    if request.job_id is None:
        raise InvalidParameter("Missing required field: job_id")
    token = request.idempotency_token
    if token is not None and len(token) > MAX_TOKEN_CHARS:
        raise InvalidParameter(
            f"The idempotency token must be at most {MAX_TOKEN_CHARS} characters long."
        )
    check_params(request)
    return request


def check_params(request: RunNowRequest) -> None:
    """The parameter fields' own rules, as run-now and runs/repair apply them."""
    if request.jar_params is not None and request.notebook_params is not None:
        raise InvalidParameter("jar_params and notebook_params cannot both be specified.")
    for name in ("python_params", "spark_submit_params"):
        values: list[str] | None = getattr(request, name)
        if values is not None and not all(value.isascii() for value in values):
            raise InvalidParameter(f"{name} must contain only ASCII characters.")
    for name in LEGACY_PARAMS:
        value = getattr(request, name)
        if value is not None and len(json.dumps(value).encode()) > MAX_PARAM_BYTES:
            raise InvalidParameter(f"{name} exceeds the limit of {MAX_PARAM_BYTES} bytes.")


def directives(request: RunNowRequest) -> tuple[Outcome | None, int | None]:
    """The outcome and task duration a run asks for through `emulator_*` parameters."""
    outcome: Outcome | None = None
    duration: int | None = None
    for source in _DIRECTIVE_SOURCES:
        params: Mapping[str, str] = getattr(request, source) or {}
        if outcome is None and OUTCOME_KEY in params:
            outcome = _outcome(params[OUTCOME_KEY])
        if duration is None and DURATION_KEY in params:
            duration = _duration(params[DURATION_KEY])
    return outcome, duration


def _outcome(value: str) -> Outcome:
    allowed: tuple[Outcome, ...] = get_args(Outcome)
    for outcome in allowed:
        if value.upper() == outcome:
            return outcome
    raise InvalidParameter(f"{OUTCOME_KEY} must be one of {', '.join(allowed)}, not {value!r}.")


def _duration(value: str) -> int:
    if not value.strip().isdigit():
        raise InvalidParameter(f"{DURATION_KEY} must be a whole number of ms, not {value!r}.")
    return int(value)


def resolved_job_parameters(
    job: JobSpec, overrides: Mapping[str, str] | None
) -> list[dict[str, str]] | None:
    """The job's parameters with the run's values on top, sorted by name (as runs/get shows)."""
    resolved = {
        p.name: {"name": p.name, "default": p.default, "value": p.default} for p in job.parameters
    }
    for name, value in (overrides or {}).items():
        resolved.setdefault(name, {"name": name})["value"] = value
    return [resolved[name] for name in sorted(resolved)] or None


def selected_tasks(job: JobSpec, only: list[str] | None) -> set[str] | None:
    """Resolve `only` (`+key` adds upstream tasks, `key+` downstream ones); None: every task."""
    if not only:
        return None
    upstream = {task.task_key: task.depends_on for task in job.tasks}
    downstream = {
        key: tuple(task.task_key for task in job.tasks if key in task.depends_on)
        for key in upstream
    }
    selected: set[str] = set()
    for entry in only:
        up, down = entry.startswith("+"), len(entry) > 1 and entry.endswith("+")
        key = entry[1 if up else 0 : -1 if down else None]
        if key not in upstream:
            raise InvalidParameter(f"Task {key} in only does not exist in job {job.job_id}.")
        selected.add(key)
        if up:
            selected |= _closure(key, upstream)
        if down:
            selected |= _closure(key, downstream)
    return selected


def _closure(key: str, edges: Mapping[str, tuple[str, ...]]) -> set[str]:
    found: set[str] = set()
    todo = list(edges[key])
    while todo:
        current = todo.pop()
        if current not in found:
            found.add(current)
            todo.extend(edges[current])
    return found


def plan_tasks(
    job: JobSpec,
    timings: Timings,
    ids: Iterator[int],
    *,
    outcome: Outcome | None = None,
    duration_ms: int | None = None,
    selected: set[str] | None = None,
    speed: float = 1.0,
) -> tuple[TaskPlan, ...]:
    """One plan per task, dependencies first. A requested failure falls on the last task.

    Durations are the scenario's, shortened `speed` times (see `service.emulator.clock`).
    """
    ordered = job.task_order()
    runnable = [task.task_key for task in ordered if selected is None or task.task_key in selected]
    last = runnable[-1] if runnable else None
    plans = []
    for task in ordered:
        task_outcome: Outcome = "SUCCESS"
        if outcome is not None:
            task_outcome = outcome if task.task_key == last else "SUCCESS"
        elif task.outcome is not None:
            task_outcome = task.outcome
        elif task.task_key == last:
            task_outcome = job.outcome
        running_ms = next(
            ms
            for ms in (duration_ms, task.running_ms, job.running_ms, timings.running_ms)
            if ms is not None
        )
        plans.append(
            TaskPlan(
                key=task.task_key,
                run_id=next(ids),
                depends_on=task.depends_on,
                outcome=task_outcome,
                setup_ms=lasting(timings.pending_ms, speed),
                exec_ms=lasting(running_ms, speed),
                cleanup_ms=lasting(timings.terminating_ms, speed),
                excluded=selected is not None and task.task_key not in selected,
            )
        )
    return tuple(plans)
