"""Each verb as an HTTP call and its answer as a struct, and the safe-retry rule of the writes;
no I/O, so that `Client` and `AsyncClient` share every decision and differ only in waiting."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, TypeVar
from urllib.parse import quote

import httpx
import msgspec

from service.client.errors import JobsError, OutcomeUnknown, ServiceFailed, Unreachable
from service.client.events import Job, Repaired, Status, Triggered

MAX_RETRIES = 3
FIRST_DELAY_S = 0.5
MAX_DELAY_S = 8.0
MAX_RETRY_AFTER_S = 60.0
# Statuses with which a write may or may not have happened: the service's OUTCOME_UNKNOWN, or
# a gateway's page in front of it (which cannot say what the service did).
UNKNOWN_STATUSES = frozenset({502, 503, 504})
_encoder = msgspec.json.Encoder()


class Call(NamedTuple):
    """One request: `write` marks a trigger, repair or rerun (keyed, retried when unsure)."""

    method: str
    path: str
    query: dict[str, str | int] | None = None
    body: Any = None
    write: bool = False

    def content(self) -> bytes | None:
        return None if self.body is None else _encoder.encode(self.body)


def job_path(job: str, *parts: object) -> str:
    return "/".join(["/api/jobs", quote(job, safe=""), *(quote(str(p), safe="") for p in parts)])


def new_key() -> str:
    return str(uuid.uuid4())


def trigger_call(job: str, params: Mapping[str, Any] | None) -> Call:
    return Call("POST", job_path(job, "run"), body={"params": dict(params or {})}, write=True)


def repair_call(
    job: str,
    run_id: int,
    tasks: Sequence[str] | None,
    rerun_dependents: bool,
    params: Mapping[str, Any] | None,
) -> Call:
    """`{}` reruns every failed task; `tasks` names the ones to rerun."""
    body: dict[str, Any] = {}
    if tasks:
        body["tasks"] = list(tasks)
    if rerun_dependents:
        body["rerunDependents"] = True
    if params is not None:
        body["params"] = dict(params)
    return Call("POST", job_path(job, "runs", run_id, "repair"), body=body, write=True)


def rerun_call(job: str, run_id: int) -> Call:
    return Call("POST", job_path(job, "runs", run_id, "rerun"), write=True)


def runs_call(job: str | None, limit: int, active: bool | None) -> Call:
    """A job's runs, or (no job) the runs of every job the caller may view."""
    if job is not None:
        return Call("GET", job_path(job, "runs"), {"limit": limit})
    query: dict[str, str | int] = {"limit": limit}
    if active:  # the service's `active=false` means every run: finished ones are kept here
        query["active"] = "true"
    return Call("GET", "/api/runs", query)


class _Jobs(msgspec.Struct):
    jobs: list[Job]


class _Started(msgspec.Struct):
    runId: int  # noqa: N815 - the wire name


class _Repaired(msgspec.Struct):
    runId: int  # noqa: N815 - the wire name
    repairId: int  # noqa: N815


class _Runs(msgspec.Struct):
    runs: list[dict[str, Any]]


T = TypeVar("T")


def _decoder(kind: type[T]) -> Callable[[bytes], T]:
    """A decoder whose failure is the client's error: the answer is not the service's."""
    decode = msgspec.json.Decoder(kind).decode

    def decoded(content: bytes) -> T:
        try:
            return decode(content)
        except (msgspec.DecodeError, RecursionError):
            raise ServiceFailed(
                200,
                "INVALID_REPLY",
                "The answer is not the service's JSON: is this a jobs-sidecar?",
            ) from None

    return decoded


_jobs = _decoder(_Jobs)
_started = _decoder(_Started)
_repaired = _decoder(_Repaired)
_runs = _decoder(_Runs)
_status = _decoder(Status)
_object = _decoder(dict[str, Any])


def jobs_of(content: bytes) -> list[Job]:
    return _jobs(content).jobs


def triggered(content: bytes, key: str) -> Triggered:
    return Triggered(run_id=_started(content).runId, idempotency_key=key)


def repaired(content: bytes, key: str) -> Repaired:
    reply = _repaired(content)
    return Repaired(run_id=reply.runId, repair_id=reply.repairId, idempotency_key=key)


def status_of(content: bytes) -> Status:
    return _status(content)


def object_of(content: bytes) -> dict[str, Any]:
    return _object(content)


def runs_of(content: bytes, job: str | None, active: bool | None) -> list[dict[str, Any]]:
    """Each run with its `jobKey` (a job's own list leaves it out); `active` True keeps the runs
    that have not ended, False those that have (filtered here: a job's own list takes no filter,
    and the list of every job's runs filters only for active ones)."""
    runs = [{**run, "jobKey": run.get("jobKey", job)} for run in _runs(content).runs]
    if active is None:
        return runs
    return [run for run in runs if (run.get("result") is None) == active]


def lost(exc: httpx.TransportError, key: str | None = None) -> JobsError:
    """A request with no answer: unreachable if it never connected (or was a read), else a
    write of unknown outcome."""
    reason = str(exc) or type(exc).__name__
    never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
    if never_sent:
        return Unreachable(f"could not connect ({reason})", idempotency_key=key)
    if key is None:  # a read: nothing to be unsure about
        return Unreachable(f"no answer ({reason})")
    return OutcomeUnknown(0, "NETWORK", f"no answer ({reason})", idempotency_key=key)


class WriteRetries:
    """client.js's rule for a write: always keyed; when its outcome is unknown (no answer, or
    502/503/504 OUTCOME_UNKNOWN or from a gateway) send it again with the same key, at most
    `retries` more times, backing off from `first_delay_s` or as Retry-After says; the service
    then answers with what the key did, or does it exactly once."""

    def __init__(self, key: str, *, retries: int, first_delay_s: float) -> None:
        self.key = key
        self._left = retries
        self._delay = first_delay_s
        self._maybe_done = False

    def wait(self, error: JobsError) -> float | None:
        """Seconds to wait before sending it again, or None: raise `failure(error)`."""
        error.idempotency_key = self.key
        unsure = isinstance(error, OutcomeUnknown) or (
            error.status in UNKNOWN_STATUSES and error.code.startswith("HTTP_")
        )
        self._maybe_done = self._maybe_done or unsure
        if not (unsure or isinstance(error, Unreachable)) or self._left <= 0:
            return None
        self._left -= 1
        wait = error.retry_after if error.retry_after is not None else self._delay
        self._delay = min(self._delay * 2, MAX_DELAY_S)
        return min(wait, MAX_RETRY_AFTER_S)

    def failure(self, error: JobsError) -> JobsError:
        """What to raise: of unknown outcome if any attempt may have reached the service."""
        if (
            self._maybe_done
            and not isinstance(error, OutcomeUnknown)
            and error.status
            in {
                0,
                *UNKNOWN_STATUSES,
            }
        ):
            return OutcomeUnknown(error.status, error.code, error.message, idempotency_key=self.key)
        return error
