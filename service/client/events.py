"""What the client hands back: jobs, started runs, statuses and run updates, as msgspec structs."""

from __future__ import annotations

from typing import Any

import msgspec

# Life-cycle states after which a run changes no more, and the outcomes that count as success
# (as the service's own run-and-wait counts them).
FINAL_STATES = frozenset({"TERMINATED", "SKIPPED", "INTERNAL_ERROR"})
SUCCESSES = frozenset({"SUCCESS", "SUCCESS_WITH_FAILURES"})


class Job(msgspec.Struct, frozen=True, rename="camel"):
    """A job the caller may view: its key, task type, and the JSON Schema of its parameters
    (`params` None: the job takes any parameters)."""

    key: str
    task_type: str | None = None
    configured: bool = True
    run_as: str = "service_principal"
    can_run: bool = True
    params: dict[str, Any] | None = None


class Triggered(msgspec.Struct, frozen=True):
    """A run started (or the run the key started before), and the key that gets it again."""

    run_id: int
    idempotency_key: str


class Repaired(msgspec.Struct, frozen=True):
    """A repair of a run: the run, the repair's id, and the key that gets it again."""

    run_id: int
    repair_id: int
    idempotency_key: str


class Status(msgspec.Struct, frozen=True):
    """A run's state as `GET …/status` answers it: life-cycle state, outcome (None while it
    runs), and the whole run as Databricks sent it (all None for a job that never ran)."""

    status: str | None
    result: str | None = None
    run: dict[str, Any] | None = None

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATES

    @property
    def succeeded(self) -> bool:
        return self.result in SUCCESSES


class RunUpdate(msgspec.Struct, frozen=True, kw_only=True):
    """One change of a watched run (an `event: message`): its event `id` (the Last-Event-ID to
    resume after), life-cycle `status`, `result` (None while it runs), when the service saw it
    (`timestamp`, ms since the epoch) and the whole `run`."""

    status: str | None
    result: str | None = None
    timestamp: int
    run: dict[str, Any]
    id: str = ""

    @property
    def run_id(self) -> int | None:
        value = self.run.get("run_id")
        return value if isinstance(value, int) else None

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATES

    @property
    def succeeded(self) -> bool:
        return self.result in SUCCESSES

    def as_status(self) -> Status:
        return Status(status=self.status, result=self.result, run=self.run)


def tasks_of(run: dict[str, Any] | None) -> list[dict[str, Any]]:
    tasks = (run or {}).get("tasks")
    return [t for t in tasks if isinstance(t, dict)] if isinstance(tasks, list) else []


def task_counts(run: dict[str, Any] | None) -> tuple[int, int]:
    """How many of the run's tasks have ended, of how many."""
    tasks = tasks_of(run)
    done = sum(1 for t in tasks if state_of(t).get("life_cycle_state") in FINAL_STATES)
    return done, len(tasks)


def state_of(run: dict[str, Any] | None) -> dict[str, Any]:
    state = (run or {}).get("state")
    return state if isinstance(state, dict) else {}


def signature(run: dict[str, Any]) -> tuple[object, ...]:
    """What counts as a change, as the service counts it: states and results, not timings."""
    state, status = state_of(run), run.get("status")
    return (
        state.get("life_cycle_state"),
        state.get("result_state"),
        status.get("state") if isinstance(status, dict) else None,
        tuple(
            (
                t.get("task_key"),
                t.get("run_id"),
                state_of(t).get("life_cycle_state"),
                state_of(t).get("result_state"),
            )
            for t in tasks_of(run)
        ),
    )
