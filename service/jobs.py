"""The Python API: `Jobs` and per-job handles whose verbs return an `ExecutionResult`."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import AbstractContextManager, aclosing, asynccontextmanager
from typing import Any, Generic, TypeVar

import httpx
import msgspec

from service import audit
from service.callers import PROGRAM
from service.clock import Clock
from service.config import JobSettings, Settings
from service.echo import echo
from service.errors import (
    RunFailed,
    SidecarError,
    UnknownJob,
)
from service.identity import forwarded_token
from service.operations import MultiTaskOutput
from service.repairs import repair_ask, repair_fields
from service.reruns import rerun_fields
from service.runs.subscription import End
from service.runtime import Services, open_services
from service.upstream.auth import Identity

T = TypeVar("T")
# The audit line's caller for the Python API: the program itself (its identity acts upstream).


class ExecutionError(msgspec.Struct, frozen=True):
    """`idempotency_key` is set when the outcome is unknown (OUTCOME_UNKNOWN): run again
    with it to get the run that may have started, or start it once."""

    status: int
    message: str
    code: str
    idempotency_key: str | None = None


class ExecutionResult(msgspec.Struct, Generic[T], frozen=True):
    """`ok` and `data` on success; `error` (status, message, code) on failure."""

    ok: bool
    data: T | None = None
    error: ExecutionError | None = None


class RunStatus(msgspec.Struct, frozen=True):
    """One change of a run while waiting: its life-cycle state, when, and the whole run."""

    status: str | None
    timestamp: int
    run: dict[str, Any]


def _fail(exc: SidecarError) -> ExecutionResult[Any]:
    error = ExecutionError(
        status=exc.status, message=exc.message, code=exc.code, idempotency_key=exc.idempotency_key
    )
    return ExecutionResult(ok=False, error=error)


def _decode(raw: msgspec.Raw) -> Any:
    # A fresh object per call: callers may change what they get without touching the cache.
    return msgspec.json.decode(raw)


class Jobs:
    """`jobs("etl")` → a handle. Open with `Jobs.open(settings)`, or take `app` services.

    The caller is the program itself (`service.callers.PROGRAM`, "python program"): it holds
    the workspace credentials, so the HTTP front door's access rules (service.permissions) and
    limits do not apply; its Idempotency-Keys are its own, apart from every HTTP caller's.
    """

    def __init__(self, services: Services) -> None:
        self._services = services

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
    ) -> AsyncIterator[Jobs]:
        async with open_services(settings, transport=transport, clock=clock) as services:
            yield cls(services)

    def keys(self) -> list[str]:
        return list(self._services.settings.jobs)

    async def runs(
        self, *, limit: int = 20, active: bool = False
    ) -> ExecutionResult[list[dict[str, Any]]]:
        """The runs of every configured job, newest first (each with `jobKey` and `result`);
        `active`: only those that have not ended. Each job gives at most its 25 newest."""
        svc = self._services
        jobs = [(job, svc.service_principal) for job in svc.settings.jobs.values() if job.job_id]
        try:
            runs = await svc.all_runs.runs(jobs, limit, active=active)
        except SidecarError as exc:
            return _fail(exc)
        return ExecutionResult(ok=True, data=[_decode(r) for r in runs])

    def __call__(self, key: str) -> JobHandle:
        job = self._services.settings.jobs.get(key)
        if job is None:
            known = ", ".join(self.keys()) or "none"
            raise UnknownJob(f'Unknown job "{echo(key)}". Available jobs: {known}')
        return JobHandle(self._services, job, self._services.service_principal)


class JobHandle:
    """The verbs of one job, acting as one identity."""

    def __init__(
        self, services: Services, job: JobSettings, identity: Identity | str | SidecarError
    ) -> None:
        self._svc = services
        self._job = job
        self._identity = identity  # a user's token until its first call says who they are

    def as_user(self, request: Any) -> JobHandle:
        """The same handle acting with the request's X-Forwarded-Access-Token."""
        headers: Mapping[str, str] = getattr(request, "headers", request)
        try:
            identity: str | SidecarError = forwarded_token(headers)
        except SidecarError as exc:
            identity = exc
        return JobHandle(self._svc, self._job, identity)

    def _audit(
        self, action: audit.Action, idempotency_key: str | None = None
    ) -> AbstractContextManager[audit.Entry]:
        return audit.record(
            action,
            caller=PROGRAM.name,
            job_key=self._job.key,
            via="python",
            idempotency_key=idempotency_key,
        )

    async def _context(self) -> tuple[JobSettings, Identity]:
        if isinstance(self._identity, SidecarError):
            raise self._identity
        job = self._svc.ops.job(self._job.key)
        if isinstance(self._identity, str):
            return job, await self._svc.users.identify(self._identity)
        return job, self._identity

    async def run_now(
        self, params: object = None, *, idempotency_key: str | None = None
    ) -> ExecutionResult[dict[str, int]]:
        try:
            with self._audit("trigger", idempotency_key):
                job, identity = await self._context()
                fields = self._svc.ops.prepare_run(job, params)
                run_id = await self._svc.ops.run_now(
                    job, identity, fields, idempotency_key=idempotency_key, caller=PROGRAM
                )
        except SidecarError as exc:
            return _fail(exc)
        return ExecutionResult(ok=True, data={"run_id": run_id})

    async def run_and_wait(
        self, params: object = None, *, idempotency_key: str | None = None
    ) -> AsyncIterator[RunStatus]:
        """Trigger a run and yield each change until it ends, the final one included.

        Raises `RunFailed` (carrying the final run) once a run has ended without success, and
        another SidecarError for bad parameters, upstream errors or the job's `wait_timeout_ms`
        running out. Once the run has started, the error's `run_id` names it; if whether it
        started is unknown (OutcomeUnknown), the error's `idempotency_key` gets it (or starts it
        once).
        """
        with self._audit("trigger", idempotency_key):
            job, identity = await self._context()
            fields = self._svc.ops.prepare_run(job, params)
            run_id = await self._svc.ops.run_now(
                job, identity, fields, idempotency_key=idempotency_key, caller=PROGRAM
            )
        try:
            # aclosing: a caller that stops early frees the watcher now, not at collection.
            async with aclosing(self._wait(job, identity, run_id)) as statuses:
                async for status in statuses:
                    yield status
        except SidecarError as exc:
            exc.run_id = run_id
            raise

    async def _wait(
        self, job: JobSettings, identity: Identity, run_id: int
    ) -> AsyncGenerator[RunStatus, None]:
        following = await self._svc.follow_new_run(job, identity, run_id)
        try:
            while True:
                item = await following.next()
                if item is None:
                    continue
                if isinstance(item, End):
                    if item.error is not None:
                        raise item.error
                    return
                status = RunStatus(
                    status=item.status, timestamp=item.timestamp, run=_decode(item.run)
                )
                yield status
                if item.terminal and not _succeeded(status.run):
                    outcome = _outcome(status.run)
                    raise RunFailed(f"Run {run_id} ended {outcome}", run_id=run_id, run=status.run)
        finally:
            following.close()

    async def last_run(self) -> ExecutionResult[dict[str, Any] | None]:
        try:
            job, identity = await self._context()
            latest = await self._svc.ops.last_run(job, identity)
        except SidecarError as exc:
            return _fail(exc)
        return ExecutionResult(ok=True, data=_decode(latest.raw) if latest else None)

    async def list_runs(self, *, limit: int = 20) -> ExecutionResult[list[dict[str, Any]]]:
        try:
            job, identity = await self._context()
            runs = await self._svc.ops.list_runs(job, identity, limit)
        except SidecarError as exc:
            return _fail(exc)
        return ExecutionResult(ok=True, data=[_decode(r) for r in runs])

    async def get_run(self, run_id: int) -> ExecutionResult[dict[str, Any]]:
        try:
            job, identity = await self._context()
            snapshot = await self._svc.ops.get_run(job, identity, run_id)
        except SidecarError as exc:
            return _fail(exc)
        return ExecutionResult(ok=True, data=_decode(snapshot.raw))

    async def get_run_output(self, run_id: int) -> ExecutionResult[dict[str, Any]]:
        try:
            job, identity = await self._context()
            output = await self._svc.ops.get_run_output(job, identity, run_id)
        except SidecarError as exc:
            return _fail(exc)
        if isinstance(output, MultiTaskOutput):
            return ExecutionResult(ok=True, data=msgspec.json.decode(msgspec.json.encode(output)))
        return ExecutionResult(ok=True, data=_decode(output))

    async def get_job(self) -> ExecutionResult[dict[str, Any]]:
        try:
            job, identity = await self._context()
            raw = await self._svc.ops.get_job(job, identity)
        except SidecarError as exc:
            return _fail(exc)
        return ExecutionResult(ok=True, data=_decode(raw))

    async def repair(
        self,
        run_id: int,
        tasks: list[str] | None = None,
        rerun_dependents: bool = False,
        idempotency_key: str | None = None,
        *,
        params: object = None,
    ) -> ExecutionResult[dict[str, int]]:
        """Run the failed tasks of a finished run (or `tasks`, and with `rerun_dependents`
        every task depending on them) again, in the same run: `{"run_id", "repair_id"}`.

        Once per `idempotency_key`: the same key again answers the same repair. `params`, if
        given, are validated and sent as a trigger's. Watch the run with `get_run`, or follow
        it from HTTP: its watch goes on from its final event."""
        try:
            with self._audit("repair", idempotency_key):
                job, identity = await self._context()
                ask = repair_ask(
                    msgspec.json.encode({"tasks": tasks, "rerunDependents": rerun_dependents})
                )
                mapped = self._svc.ops.prepare_run(job, params) if params is not None else {}
                repair_id = await self._svc.repairs.repair(
                    job,
                    identity,
                    run_id,
                    repair_fields(ask, mapped),
                    idempotency_key,
                    caller=PROGRAM,
                )
        except SidecarError as exc:
            return _fail(exc)
        return ExecutionResult(ok=True, data={"run_id": run_id, "repair_id": repair_id})

    async def rerun(
        self, run_id: int, *, idempotency_key: str | None = None
    ) -> ExecutionResult[dict[str, int]]:
        """Start a new run with the parameters `run_id` had (read back from Databricks):
        `{"run_id"}` of the new run; once per `idempotency_key`, as `run_now`."""
        try:
            with self._audit("rerun", idempotency_key):
                job, identity = await self._context()
                fields = rerun_fields(await self._svc.ops.get_run(job, identity, run_id))
                audit.note_params(fields)
                new_run = await self._svc.ops.run_now(
                    job, identity, fields, idempotency_key=idempotency_key, caller=PROGRAM
                )
        except SidecarError as exc:
            return _fail(exc)
        return ExecutionResult(ok=True, data={"run_id": new_run})

    async def cancel_all(self) -> ExecutionResult[None]:
        """Cancel every active run of the job."""
        try:
            with self._audit("cancel_all"):
                job, identity = await self._context()
                await self._svc.ops.cancel_all(job, identity)
        except SidecarError as exc:
            return _fail(exc)
        return ExecutionResult(ok=True)

    async def cancel_run(self, run_id: int) -> ExecutionResult[None]:
        try:
            with self._audit("cancel"):
                job, identity = await self._context()
                await self._svc.ops.cancel_run(job, identity, run_id)
        except SidecarError as exc:
            return _fail(exc)
        return ExecutionResult(ok=True)


# SUCCESS_WITH_FAILURES: the job run succeeded (its leaf tasks did) though some task failed.
_SUCCESSES = frozenset({"SUCCESS", "SUCCESS_WITH_FAILURES"})


def _succeeded(run: dict[str, Any]) -> bool:
    state = run.get("state") or {}
    return state.get("life_cycle_state") == "TERMINATED" and state.get("result_state") in _SUCCESSES


def _outcome(run: dict[str, Any]) -> str:
    state = run.get("state") or {}
    return str(state.get("result_state") or state.get("life_cycle_state"))
