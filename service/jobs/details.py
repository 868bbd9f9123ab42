"""What Databricks says of each job, for the job list: its name, description and task keys.

Read through `JobOperations.get_job` (jobs/get, the same cached read as `GET /api/jobs/{key}`),
every job at once. Why this differs from `GET /api/runs`, where one job's failure is the answer:
the job list is what a dashboard starts from, so a job whose definition cannot be read now (gone
from the workspace, Databricks unreachable, a `run_as = "user"` job asked without a user's token)
is listed without details, and its own routes say what is wrong.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable

import msgspec
import structlog

from service.basics.errors import MissingUserToken, UpstreamError, UserTokenRefused
from service.jobs.operations import JobOperations
from service.settings.config import JobSettings
from service.upstream.auth import Identity

log = structlog.get_logger(__name__)


class _Task(msgspec.Struct, frozen=True):
    task_key: str


class _Settings(msgspec.Struct, frozen=True):
    name: str | None = None
    description: str | None = None
    tasks: tuple[_Task, ...] = ()


class _Job(msgspec.Struct, frozen=True):
    """The parts of a jobs/get reply read here (lenient: everything else is ignored)."""

    settings: _Settings = _Settings()


_decode = msgspec.json.Decoder(_Job).decode


class JobDetails(msgspec.Struct, frozen=True):
    """A job as its workspace names it: `tasks` are its task keys, in the job's order."""

    name: str | None
    description: str | None
    tasks: tuple[str, ...]


def details_of(raw: msgspec.Raw) -> JobDetails:
    """The details in a jobs/get reply (a reply of another shape: a msgspec.DecodeError)."""
    settings = _decode(raw).settings
    keys = tuple(task.task_key for task in settings.tasks)
    return JobDetails(name=settings.name, description=settings.description, tasks=keys)


async def describe(
    ops: JobOperations,
    jobs: Iterable[JobSettings],
    identify: Callable[[JobSettings], Awaitable[Identity]],
) -> dict[str, JobDetails]:
    """The details of each configured job of `jobs` that could be read, by job key."""

    async def one(job: JobSettings) -> tuple[str, JobDetails] | None:
        try:
            return job.key, details_of(await ops.get_job(job, await identify(job)))
        except (UpstreamError, MissingUserToken, UserTokenRefused) as exc:
            log.info("job.details_unavailable", job=job.key, code=exc.code)
        except msgspec.DecodeError:
            log.info("job.details_unavailable", job=job.key, code="UPSTREAM_INVALID")
        return None

    read = await asyncio.gather(*(one(job) for job in jobs if job.job_id is not None))
    return dict(item for item in read if item is not None)
