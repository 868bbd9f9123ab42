"""The emulated workspace as a value: jobs, timings, credentials; loaded from a TOML file."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

Outcome = Literal["SUCCESS", "FAILED", "INTERNAL_ERROR"]
TaskType = Literal["notebook", "python_wheel", "python_script", "spark_jar", "sql", "dbt"]
NonNegative = Annotated[int, msgspec.Meta(ge=0)]
DEMO_SCENARIO_PATH = Path(__file__).resolve().parents[2] / "config" / "emulator.toml"
DEFAULT_TOKEN = "dapi-local-dev"  # noqa: S105 - the emulator's well-known demo token


class _Spec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Scenario tables: immutable, and a misspelt key is an error rather than a silent default."""


class Timings(_Spec, frozen=True, kw_only=True):
    """How long each life-cycle phase lasts, in emulated milliseconds."""

    queued_ms: NonNegative = 2000  # the least time a run that had to queue stays QUEUED
    pending_ms: NonNegative = 3000
    running_ms: NonNegative = 10000
    terminating_ms: NonNegative = 1000


class Client(_Spec, frozen=True, kw_only=True):
    """An OAuth service principal allowed to use the client-credentials grant."""

    id: str
    secret: str

    def __repr__(self) -> str:
        return f"Client(id={self.id!r}, secret='***')"


class User(_Spec, frozen=True, kw_only=True):
    """A workspace user and one of their tokens; list a user twice to model a refreshed token."""

    token: str
    user_name: str
    display_name: str | None = None

    def __repr__(self) -> str:
        return f"User(user_name={self.user_name!r}, token='***')"


class Parameter(_Spec, frozen=True, kw_only=True):
    """A job-level parameter and its default."""

    name: str
    default: str = ""


class TaskSpec(_Spec, frozen=True, kw_only=True):
    """One task of a job; `outcome` and `running_ms` fall back to the job's.

    `repair_outcome`: how the task ends when a repair runs it again (default: as it ended the
    first time), so a scenario can have a task that fails once and succeeds when repaired.
    """

    task_key: str
    type: TaskType = "notebook"
    depends_on: tuple[str, ...] = ()
    outcome: Outcome | None = None
    repair_outcome: Outcome | None = None
    running_ms: NonNegative | None = None
    output: str | None = None  # the notebook's exit value, or the logs of other task types
    error: str | None = None  # what get-output reports when the task fails
    spec: dict[str, Any] | None = None  # replaces the generated task-type object, if given


class JobSpec(_Spec, frozen=True, kw_only=True):
    """A saved job. Without `tasks` it has one notebook task named `main`."""

    job_id: Annotated[int, msgspec.Meta(gt=0)]
    name: str = ""  # defaults to the job's key in the scenario
    max_concurrent_runs: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 1
    queue: bool = True
    outcome: Outcome = "SUCCESS"
    running_ms: NonNegative | None = None
    description: str | None = None
    parameters: tuple[Parameter, ...] = ()
    tasks: tuple[TaskSpec, ...] = ()

    def __post_init__(self) -> None:
        if not self.tasks:
            msgspec.structs.force_setattr(self, "tasks", (TaskSpec(task_key="main"),))
        keys = [task.task_key for task in self.tasks]
        _no_duplicates("task_key", keys)
        _no_duplicates("parameter", [p.name for p in self.parameters])
        graph: dict[str, tuple[str, ...]] = {}
        for task in self.tasks:
            for dependency in task.depends_on:
                if dependency not in keys:
                    raise ValueError(
                        f"task {task.task_key!r} depends on {dependency!r}, which is not a task"
                    )
            graph[task.task_key] = task.depends_on
        try:
            tuple(TopologicalSorter(graph).static_order())
        except CycleError as exc:
            raise ValueError(f"tasks depend on each other in a cycle: {exc.args[1]}") from None

    def task_order(self) -> tuple[TaskSpec, ...]:
        """The tasks with every dependency before its dependants (declaration order otherwise)."""
        by_key = {task.task_key: task for task in self.tasks}
        sorter = TopologicalSorter({task.task_key: task.depends_on for task in self.tasks})
        sorter.prepare()
        ordered: list[TaskSpec] = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready(), key=lambda key: self.tasks.index(by_key[key]))
            ordered.extend(by_key[key] for key in ready)
            sorter.done(*ready)
        return tuple(ordered)


class Scenario(_Spec, frozen=True, kw_only=True):
    """Everything the emulator serves: the workspace, its credentials, its jobs and timings."""

    workspace_id: Annotated[int, msgspec.Meta(gt=0)] = 1234567890123456
    account_id: str = "7e1a9c1d-0b2f-4c3e-9d5a-6f7b8c9d0e1f"
    speed: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    tokens: tuple[str, ...] = (DEFAULT_TOKEN,)
    refused_tokens: tuple[str, ...] = ()
    accept_any_token: bool = True
    token_ttl_s: Annotated[int, msgspec.Meta(gt=0)] = 3600
    clients: tuple[Client, ...] = (Client(id="local-client", secret="local-secret"),)  # noqa: S106
    # Forwarded user tokens and whose they are (SCIM `Me`); any other accepted token belongs
    # to `creator_user_name` if it is in `tokens`, else to a user derived from the token.
    users: tuple[User, ...] = ()
    timings: Timings = msgspec.field(default_factory=Timings)
    list_limit_max: Annotated[int, msgspec.Meta(ge=1)] = 25
    # A failed task turns the job run into INTERNAL_ERROR/FAILED, as real workspaces do.
    internal_error_on_task_failure: bool = True
    creator_user_name: str = "emulator@example.com"
    jobs: dict[str, JobSpec] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        _no_duplicates("client id", [client.id for client in self.clients])
        _no_duplicates("user token", [user.token for user in self.users])
        _no_duplicates("job_id", [job.job_id for job in self.jobs.values()])
        named = {
            key: job if job.name else msgspec.structs.replace(job, name=key)
            for key, job in self.jobs.items()
        }
        msgspec.structs.force_setattr(self, "jobs", named)  # the caller's dict stays untouched

    @classmethod
    def demo(cls) -> Scenario:
        """The demo workspace of config/emulator.toml (jobs 1001-1008), read from the checkout."""
        return load_scenario(DEMO_SCENARIO_PATH)


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario TOML file; any problem is a ValueError with a one-line message."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read scenario {path}: {exc.strerror}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from None
    return parse_scenario(raw, source=str(path))


def parse_scenario(raw: Mapping[str, Any], *, source: str = "scenario") -> Scenario:
    """Build a Scenario from parsed TOML (or any JSON-like mapping)."""
    jobs = raw.get("jobs", {})
    if isinstance(jobs, Mapping):
        # Converted one by one first, so an error names the job rather than `$.jobs[...]`.
        for key, table in jobs.items():
            try:
                msgspec.convert(table, JobSpec)
            except msgspec.ValidationError as exc:
                raise ValueError(f"{source}: jobs.{key}: {exc}") from None
    try:
        return msgspec.convert(raw, Scenario)
    except msgspec.ValidationError as exc:
        raise ValueError(f"{source}: {exc}") from None


def _no_duplicates(what: str, values: list[Any]) -> None:
    seen: set[Any] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"duplicate {what} {value!r}")
        seen.add(value)
