"""Lenient structs for what Databricks sends: only the fields we read, the raw JSON kept whole.

Every decoder here is also the reply's check: a body that is not a JSON object, or whose fields
we rely on have the wrong type, fails to decode (msgspec.DecodeError or ValidationError). The
raw JSON kept is the reply without a `run_page_url` that is not http(s) (`links`).
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from service.upstream.links import web_links_only

TERMINAL_STATES = frozenset({"TERMINATED", "SKIPPED", "INTERNAL_ERROR"})


class RunState(msgspec.Struct, frozen=True):
    life_cycle_state: str | None = None
    result_state: str | None = None
    state_message: str | None = None
    queue_reason: str | None = None


class QueueDetails(msgspec.Struct, frozen=True):
    code: str | None = None
    message: str | None = None


class RunStatusV2(msgspec.Struct, frozen=True):
    state: str | None = None
    queue_details: QueueDetails | None = None


class RepairItem(msgspec.Struct, frozen=True):
    """One item of `repair_history` (runs/get with include_history=true)."""

    type: str | None = None  # ORIGINAL | REPAIR
    id: int | None = None  # a repair's id; the original has none


class TaskRun(msgspec.Struct, frozen=True):
    task_key: str | None = None
    run_id: int | None = None
    state: RunState | None = None


class Run(msgspec.Struct, frozen=True):
    """The parts of a `runs/get` object we act on; everything else stays in the raw bytes."""

    run_id: int
    job_id: int
    state: RunState | None = None
    status: RunStatusV2 | None = None
    tasks: tuple[TaskRun, ...] = ()
    start_time: int = 0
    end_time: int = 0
    repair_history: tuple[RepairItem, ...] = ()

    @property
    def life_cycle_state(self) -> str | None:
        return self.state.life_cycle_state if self.state else None

    @property
    def is_terminal(self) -> bool:
        return self.life_cycle_state in TERMINAL_STATES

    @property
    def result(self) -> str | None:
        """The run's outcome (`SUCCESS`, `FAILED`, `CANCELED`, ...), None while it runs.

        A run that ended with no `result_state` (an infrastructure failure, a skip) answers its
        life-cycle state (`INTERNAL_ERROR`, `SKIPPED`), so a finished run never reads as running.
        """
        state = self.state
        if state is not None and state.result_state:
            return state.result_state
        return self.life_cycle_state if self.is_terminal else None

    @property
    def queue_code(self) -> str | None:
        """Why a queued run waits, for programs: MAX_CONCURRENT_RUNS_REACHED, ..."""
        details = self.status.queue_details if self.status else None
        return details.code if details else None

    @property
    def queue_reason(self) -> str | None:
        """Why a queued run waits, for people (None unless it waits in a queue)."""
        details = self.status.queue_details if self.status else None
        reason = self.state.queue_reason if self.state else None
        return reason or (details.message if details else None)

    @property
    def latest_repair_id(self) -> int | None:
        """The id of the run's latest repair (read with include_history); None before any."""
        ids = [item.id for item in self.repair_history if item.type == "REPAIR" and item.id]
        return ids[-1] if ids else None


class RunSnapshot(msgspec.Struct, frozen=True):
    """One run as Databricks sent it: the decoded fields we read, and every byte of the rest."""

    run: Run
    raw: msgspec.Raw


class RunPage(msgspec.Struct, frozen=True):
    runs: tuple[msgspec.Raw, ...] = ()
    next_page_token: str | None = None


class RunNowReply(msgspec.Struct, frozen=True):
    run_id: int


class RepairReply(msgspec.Struct, frozen=True):
    repair_id: int


class JobParameter(msgspec.Struct, frozen=True):
    name: str
    value: str | None = None
    default: str | None = None


class RunParameters(msgspec.Struct, frozen=True):
    """What a run was started with: job parameters as resolved, and any legacy parameters."""

    job_parameters: tuple[JobParameter, ...] = ()
    overriding_parameters: dict[str, Any] | None = None


class _CheckedPage(msgspec.Struct, frozen=True):
    """A runs/list page whose every run has the fields we act on."""

    runs: tuple[Run, ...] = ()
    next_page_token: str | None = None


class OutputMetadata(msgspec.Struct, frozen=True):
    """The run a runs/get-output reply is for."""

    state: RunState | None = None


class RunOutput(msgspec.Struct, frozen=True):
    """A runs/get-output reply: we read its run's state; the rest passes through as sent."""

    metadata: OutputMetadata | None = None


class JobReply(msgspec.Struct, frozen=True):
    """What we read of jobs/get: its job id (the rest passes through as sent)."""

    job_id: int


class _AnyObject(msgspec.Struct, frozen=True):
    """Any JSON object: runs/cancel answers `{}`."""


class ErrorReply(msgspec.Struct):
    error_code: str | int | None = None
    message: str | None = None


class TokenReply(msgspec.Struct):
    access_token: str
    expires_in: int = 3600


class JobIdOnly(msgspec.Struct, frozen=True):
    job_id: int | None = None


_run_decoder = msgspec.json.Decoder(Run)
_page_decoder = msgspec.json.Decoder(RunPage)
_checked_page_decoder = msgspec.json.Decoder(_CheckedPage)
_job_id_decoder = msgspec.json.Decoder(JobIdOnly)
_run_now_decoder = msgspec.json.Decoder(RunNowReply)
_repair_decoder = msgspec.json.Decoder(RepairReply)
_parameters_decoder = msgspec.json.Decoder(RunParameters)
_output_decoder = msgspec.json.Decoder(RunOutput)
_job_decoder = msgspec.json.Decoder(JobReply)
_object_decoder = msgspec.json.Decoder(_AnyObject)


def decode_run(body: bytes) -> RunSnapshot:
    body = web_links_only(body)
    return RunSnapshot(run=_run_decoder.decode(body), raw=msgspec.Raw(body))


def decode_page(body: bytes) -> RunPage:
    body = web_links_only(body)
    _checked_page_decoder.decode(body)
    return _page_decoder.decode(body)


def decode_run_now(body: bytes) -> int:
    return _run_now_decoder.decode(body).run_id


def decode_repair(body: bytes) -> int:
    return _repair_decoder.decode(body).repair_id


def run_parameters(raw: msgspec.Raw | bytes) -> RunParameters:
    return _parameters_decoder.decode(raw)


def decode_output(body: bytes) -> msgspec.Raw:
    body = web_links_only(body)
    _output_decoder.decode(body)
    return msgspec.Raw(body)


def decode_job(body: bytes) -> msgspec.Raw:
    _job_decoder.decode(body)
    return msgspec.Raw(body)


def decode_object(body: bytes) -> None:
    _object_decoder.decode(body)


def output_life_cycle_state(raw: msgspec.Raw) -> str | None:
    """The life-cycle state of the run a runs/get-output reply is for (the cache's TTL)."""
    meta = _output_decoder.decode(raw).metadata
    return meta.state.life_cycle_state if meta and meta.state else None


def run_from_raw(raw: msgspec.Raw) -> RunSnapshot:
    return RunSnapshot(run=_run_decoder.decode(raw), raw=raw)


def job_id_of(raw: msgspec.Raw | bytes) -> int | None:
    return _job_id_decoder.decode(raw).job_id


class Principal(msgspec.Struct, frozen=True):
    """SCIM `Me`: the user (or service principal) a token belongs to; `id` is stable."""

    id: Annotated[str, msgspec.Meta(min_length=1)]
    userName: str | None = None  # noqa: N815 - SCIM's wire name
