"""The job verbs behind both the HTTP routes and the Python API, each in its execution tier."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from service.basics.callers import Caller
from service.basics.errors import (
    InvalidRequest,
    JobNotConfigured,
    JobNotFound,
    UpstreamNotFound,
    run_not_found,
    unknown_job,
)
from service.cache.read_cache import CacheKey, ReadCache
from service.jobs import audit
from service.jobs.run_result import with_result
from service.jobs.triggers import Triggers
from service.params.schemas import check_sendable, run_now_fields, validate_params
from service.settings.config import JobSettings, Settings
from service.upstream.auth import Identity
from service.upstream.client import JobsClient
from service.upstream.retry import SAFE_WRITE
from service.upstream.wire import (
    TERMINAL_STATES,
    RunSnapshot,
    job_id_of,
    output_life_cycle_state,
    run_from_raw,
)

MAX_LIST_LIMIT = 100
LIMIT_RULE = f"limit must be an integer from 1 to {MAX_LIST_LIMIT}"
UPSTREAM_PAGE = 25  # runs/list refuses more per page
_WRITE_INVALIDATES = frozenset({"list_runs", "last_run"})


class TaskOutput(msgspec.Struct, frozen=True):
    task_key: str | None
    run_id: int
    output: msgspec.Raw


class MultiTaskOutput(msgspec.Struct, frozen=True):
    tasks: tuple[TaskOutput, ...]


def job_not_found(job: JobSettings, cause: UpstreamNotFound) -> JobNotFound:
    """Databricks has no job of the configured id: a set-up mistake, named with key and id."""
    assert job.job_id is not None  # noqa: S101 - job() guarantees it
    return JobNotFound(job.key, job.job_id, cause=cause)


class JobOperations:
    """Validates, maps, scopes and caches; raises the exception tree, never returns None."""

    def __init__(
        self, settings: Settings, client: JobsClient, cache: ReadCache, triggers: Triggers
    ) -> None:
        self._settings = settings
        self._client = client
        self._cache = cache
        self._triggers = triggers
        self._ttl = settings.cache_ttl_ms / 1000
        self._short_ttl = min(settings.poll_interval_ms, settings.cache_ttl_ms) / 1000

    def job(self, key: str) -> JobSettings:
        """The job's settings; 404 for an unknown key or one with no job id."""
        job = self._settings.jobs.get(key)
        if job is None:
            raise unknown_job(key)
        if job.job_id is None:
            raise JobNotConfigured(f'Job "{job.key}" has no configured job ID')
        return job

    def prepare_run(self, job: JobSettings, params: object) -> dict[str, Any]:
        """Validate and map parameters to run-now fields; raises 400 before any upstream call."""
        audit.note_params({} if params is None else params)
        validated = validate_params(job.key, job.params, {} if params is None else params)
        fields = run_now_fields(job.key, job.task_type, validated)
        check_sendable(fields)
        return fields

    async def run_now(
        self,
        job: JobSettings,
        identity: Identity,
        fields: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        caller: Caller,
        admit: Callable[[], Awaitable[None]] | None = None,
    ) -> int:
        """Start a run once per caller, key and parameters (see service/jobs/triggers.py)."""
        try:
            return await self._triggers.run_now(
                job, identity, fields, idempotency_key, caller=caller, admit=admit
            )
        except UpstreamNotFound as exc:  # run-now's "Job N does not exist."
            raise job_not_found(job, exc) from None
        finally:
            await self._cache.invalidate(job.key, _WRITE_INVALIDATES)

    async def get_run(self, job: JobSettings, identity: Identity, run_id: int) -> RunSnapshot:
        """The run, if it belongs to this job: another job's run is a 404 like a missing one."""
        try:
            snapshot = await self._cache.get_or_load(
                CacheKey(identity.key, job.key, "get_run", str(run_id)),
                lambda: self._client.get_run(identity, run_id),
                lambda s: self._ttl if s.run.is_terminal else self._short_ttl,
            )
        except UpstreamNotFound:
            raise run_not_found(run_id) from None
        if snapshot.run.job_id != job.job_id:
            raise run_not_found(run_id)
        return snapshot

    async def list_runs(
        self, job: JobSettings, identity: Identity, limit: int, *, tasks: bool = False
    ) -> tuple[msgspec.Raw, ...]:
        """Newest first, up to `limit` (1-100, else a 400: not silently 1 or 100), paging by 25;
        `tasks`: each with its task runs (runs/list `expand_tasks`)."""
        if isinstance(limit, bool) or not 1 <= limit <= MAX_LIST_LIMIT:
            raise InvalidRequest(LIMIT_RULE)
        try:
            return await self._cache.get_or_load(
                CacheKey(
                    identity.key, job.key, "list_runs", f"{limit}:tasks" if tasks else str(limit)
                ),
                lambda: self._collect_runs(job, identity, limit, tasks),
                lambda _: self._short_ttl,
            )
        except UpstreamNotFound as exc:
            raise job_not_found(job, exc) from None

    async def last_run(self, job: JobSettings, identity: Identity) -> RunSnapshot | None:
        async def load() -> RunSnapshot | None:
            assert job.job_id is not None  # noqa: S101 - job() guarantees it
            page = await self._client.list_runs(identity, job.job_id, limit=1)
            return run_from_raw(page.runs[0]) if page.runs else None

        try:
            return await self._cache.get_or_load(
                CacheKey(identity.key, job.key, "last_run"), load, lambda _: self._short_ttl
            )
        except UpstreamNotFound as exc:
            raise job_not_found(job, exc) from None

    async def cancel_run(self, job: JobSettings, identity: Identity, run_id: int) -> None:
        """Cancel a run of this job; cancelling a finished run is harmless, so it is retried."""
        audit.note_run(run_id)
        await self.get_run(job, identity, run_id)
        try:
            await self._client.cancel_run(identity, run_id, tier=SAFE_WRITE)
        except UpstreamNotFound:  # gone since runs/get found it
            raise run_not_found(run_id) from None
        finally:
            await self._cache.invalidate(job.key, _WRITE_INVALIDATES | {"get_run"})

    async def cancel_all(self, job: JobSettings, identity: Identity) -> None:
        """Cancel every active run of this job (runs/cancel-all); harmless to repeat."""
        assert job.job_id is not None  # noqa: S101 - job() guarantees it
        try:
            await self._client.cancel_all_runs(identity, job.job_id, tier=SAFE_WRITE)
        finally:
            await self._cache.invalidate(job.key, _WRITE_INVALIDATES | {"get_run"})

    async def get_run_output(
        self, job: JobSettings, identity: Identity, run_id: int
    ) -> msgspec.Raw | MultiTaskOutput:
        """A single-task run's task output, or every task's output fetched concurrently."""
        snapshot = await self.get_run(job, identity, run_id)
        tasks = [t for t in snapshot.run.tasks if t.run_id is not None]
        if not tasks:
            return await self._task_output(job, identity, run_id)
        if len(tasks) == 1:
            return await self._task_output(job, identity, tasks[0].run_id)  # type: ignore[arg-type]
        outputs = await asyncio.gather(
            *(self._task_output(job, identity, t.run_id) for t in tasks)  # type: ignore[arg-type]
        )
        return MultiTaskOutput(
            tasks=tuple(
                TaskOutput(task_key=t.task_key, run_id=t.run_id, output=out)  # type: ignore[arg-type]
                for t, out in zip(tasks, outputs, strict=True)
            )
        )

    async def get_job(self, job: JobSettings, identity: Identity) -> msgspec.Raw:
        assert job.job_id is not None  # noqa: S101 - job() guarantees it
        job_id = job.job_id
        try:
            return await self._cache.get_or_load(
                CacheKey(identity.key, job.key, "get_job"),
                lambda: self._client.get_job(identity, job_id),
                lambda _: self._ttl,
            )
        except UpstreamNotFound as exc:
            raise job_not_found(job, exc) from None

    async def poll(self, job: JobSettings, identity: Identity, run_id: int) -> RunSnapshot:
        """One uncached poll for a stream, scoped to the job."""
        try:
            snapshot = await self._client.poll_run(identity, run_id)
        except UpstreamNotFound:
            raise run_not_found(run_id) from None
        if snapshot.run.job_id != job.job_id:
            raise run_not_found(run_id)
        return snapshot

    async def _task_output(self, job: JobSettings, identity: Identity, run_id: int) -> msgspec.Raw:
        def ttl(raw: msgspec.Raw) -> float:
            state = output_life_cycle_state(raw)
            return self._ttl if state in TERMINAL_STATES else self._short_ttl

        try:
            return await self._cache.get_or_load(
                CacheKey(identity.key, job.key, "get_run_output", str(run_id)),
                lambda: self._client.get_run_output(identity, run_id),
                ttl,
            )
        except UpstreamNotFound:
            raise run_not_found(run_id) from None

    async def _collect_runs(
        self, job: JobSettings, identity: Identity, limit: int, tasks: bool
    ) -> tuple[msgspec.Raw, ...]:
        assert job.job_id is not None  # noqa: S101 - job() guarantees it
        runs: list[msgspec.Raw] = []
        token: str | None = None
        while len(runs) < limit:
            page = await self._client.list_runs(
                identity,
                job.job_id,
                limit=min(UPSTREAM_PAGE, limit - len(runs)),
                page_token=token,
                expand_tasks=tasks,
            )
            # runs/list filters by job_id upstream; check anyway so a run never leaks across jobs.
            runs.extend(with_result(r) for r in page.runs if job_id_of(r) == job.job_id)
            token = page.next_page_token
            if not token or not page.runs:
                break
        return tuple(runs[:limit])
