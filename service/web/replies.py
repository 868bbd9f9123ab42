"""The API's JSON replies as strict structs: what the handlers encode, and what the API
document publishes as their schemas (with the events of the run streams)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from service.basics.errors import ErrorBody
from service.runs.events import StatusData, Waiting
from service.runs.streams import ShutdownData
from service.upstream.wire import Run, schema_of
from service.web.route_doc import Event


class RunStarted(msgspec.Struct, frozen=True):
    """The run that was started (or, for a key seen before, the run that key started)."""

    runId: int  # noqa: N815 - the wire name the AppKit contract uses


class StreamStarted(msgspec.Struct, frozen=True):
    """A `run` event, first on a run-and-wait stream: the run, and where to watch it again."""

    runId: int  # noqa: N815 - the wire name
    watchUrl: str  # noqa: N815


class StatusReply(msgspec.Struct, frozen=True, omit_defaults=True):
    """The job's latest run: its life-cycle state, its outcome (null while it runs), the run,
    and why it waits (`queue`, only while it is queued)."""

    status: str | None
    result: str | None
    run: Annotated[msgspec.Raw, schema_of(Run)] | None
    queue: Waiting | None = None


class ListedRun(Run, frozen=True):
    """A run as Databricks lists it, with its outcome on top (null while it runs)."""

    result: str | None = None


class RunsReply(msgspec.Struct, frozen=True):
    """The job's runs, newest first."""

    runs: tuple[Annotated[msgspec.Raw, schema_of(ListedRun)], ...]


class JobInfo(msgspec.Struct, frozen=True):
    """A configured job: its key, task type, the JSON Schema of its parameters, and (asked
    with describe=true) its name, description and task keys in Databricks."""

    key: str
    taskType: str | None  # noqa: N815 - the wire name
    configured: bool
    runAs: str  # noqa: N815
    canRun: bool  # noqa: N815 - whether this caller may trigger and cancel its runs
    params: dict[str, Any] | None
    # With describe=true (service.jobs.details); absent when the job's definition was not read.
    name: str | msgspec.UnsetType | None = msgspec.UNSET
    description: str | msgspec.UnsetType | None = msgspec.UNSET
    tasks: tuple[str, ...] | msgspec.UnsetType = msgspec.UNSET


class JobsReply(msgspec.Struct, frozen=True):
    jobs: list[JobInfo]


class Probe(msgspec.Struct, frozen=True):
    status: str


STREAM_EVENTS = (
    Event("message", StatusData, "The run changed: its state, result or a task's state"),
    Event("error", ErrorBody, "The last event: following the run failed (or WAIT_TIMEOUT)"),
    Event("shutdown", ShutdownData, "The last event: the service is stopping; reconnect"),
)
STREAM_TEXT = "Events until the run ends: `id` is the Last-Event-ID to resume from"
RUN_STREAM_EVENTS = (
    Event("run", StreamStarted, "The first event: the run started, and where to watch it"),
    *STREAM_EVENTS,
)


class RepairStarted(msgspec.Struct, frozen=True):
    """The repair that was made (or, for a key seen before, the repair that key made): the
    run it repaired, and where to watch that run."""

    runId: int  # noqa: N815 - the wire name
    repairId: int  # noqa: N815
    watchUrl: str  # noqa: N815


class RerunStarted(msgspec.Struct, frozen=True):
    """The new run, started with the parameters of the run it runs again, and where to watch it."""

    runId: int  # noqa: N815 - the wire name
    watchUrl: str  # noqa: N815


class JobRun(ListedRun, frozen=True):
    """A run of one of the jobs, as Databricks lists it, with its outcome and its job's key."""

    jobKey: str = ""  # noqa: N815 - the wire name


class AllRunsReply(msgspec.Struct, frozen=True):
    """The runs of every job the caller may view, newest first."""

    runs: tuple[Annotated[msgspec.Raw, schema_of(JobRun)], ...]


REPAIR_STREAM_EVENTS = (
    Event("repair", RepairStarted, "The first event: the repair made, and where to watch the run"),
    *STREAM_EVENTS,
)
