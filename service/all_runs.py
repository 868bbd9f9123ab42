"""The runs of every job a caller may view, newest first: one upstream page per job, merged.

Each job's page is a cached read of its own (keyed as the job's `list_runs`, so a trigger,
cancel or repair of that job makes it fresh on every replica), at most `UPSTREAM_PAGE` runs:
an answer costs at most one runs/list call per job, and each job contributes at most its 25
newest runs to it. Each run is Databricks' run with `result` and `jobKey` appended.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import msgspec

from service.cache import CacheKey, ReadCache
from service.config import JobSettings, Settings
from service.errors import InvalidRequest, SidecarError
from service.operations import LIMIT_RULE, MAX_LIST_LIMIT, UPSTREAM_PAGE
from service.run_result import with_result
from service.upstream.auth import Identity
from service.upstream.client import JobsClient
from service.upstream.wire import job_id_of

_encoder = msgspec.json.Encoder()


class _When(msgspec.Struct, frozen=True):
    """What orders runs newest first, as runs/list does: ended runs by end, others by start."""

    run_id: int = 0
    start_time: int = 0
    end_time: int = 0

    @property
    def key(self) -> tuple[int, int]:
        return (self.end_time or self.start_time, self.run_id)


_when = msgspec.json.Decoder(_When)


def with_job_key(raw: msgspec.Raw, job_key: str) -> msgspec.Raw:
    """The run object `raw` with `"result"` and `"jobKey"` appended (its bytes untouched)."""
    head = bytes(with_result(raw))[:-1]
    return msgspec.Raw(head + b',"jobKey":' + _encoder.encode(job_key) + b"}")


class AllRuns:
    """Reads the runs of several jobs, each job's page cached like the job's own list."""

    def __init__(self, settings: Settings, client: JobsClient, cache: ReadCache) -> None:
        self._client = client
        self._cache = cache
        self._ttl = min(settings.poll_interval_ms, settings.cache_ttl_ms) / 1000

    async def runs(
        self, jobs: Sequence[tuple[JobSettings, Identity]], limit: int, *, active: bool
    ) -> list[msgspec.Raw]:
        """Up to `limit` (1-100) runs of `jobs`, newest first; `active`: only unfinished ones."""
        if isinstance(limit, bool) or not 1 <= limit <= MAX_LIST_LIMIT:
            raise InvalidRequest(LIMIT_RULE)
        try:
            async with asyncio.TaskGroup() as group:
                pages = [
                    group.create_task(self._page(job, identity, min(limit, UPSTREAM_PAGE), active))
                    for job, identity in jobs
                    if job.job_id is not None
                ]
        except ExceptionGroup as failed:
            # One job's failure is the answer (the others' reads are cancelled), as it would be
            # for that job's own list: our error, not a group of them.
            first = failed.exceptions[0]
            raise first if isinstance(first, SidecarError) else failed from None
        runs = [run for page in pages for run in page.result()]
        runs.sort(key=lambda raw: _when.decode(raw).key, reverse=True)
        return runs[:limit]

    async def _page(
        self, job: JobSettings, identity: Identity, size: int, active: bool
    ) -> tuple[msgspec.Raw, ...]:
        job_id = job.job_id
        assert job_id is not None  # noqa: S101 - runs() takes configured jobs only

        async def load() -> tuple[msgspec.Raw, ...]:
            page = await self._client.list_runs(identity, job_id, limit=size, active_only=active)
            # runs/list filters by job_id upstream; check anyway so a run never leaks across jobs.
            return tuple(with_job_key(r, job.key) for r in page.runs if job_id_of(r) == job_id)

        return await self._cache.get_or_load(
            CacheKey(identity.key, job.key, "list_runs", f"all:{size}:{int(active)}"),
            load,
            lambda _: self._ttl,
        )
