"""The start-up check: the credentials (one cheap authenticated call), then every configured
job id (jobs/get, a few at a time); a warning with the reason for each thing found wrong.

Why only warnings: the workspace may be down for a minute, the token about to be replaced, or a
job about to be deployed; the service starts, stays ready (probes never call Databricks) and
says at once what it saw, rather than leaving the first user request to find out.
"""

from __future__ import annotations

import anyio

from service.basics.errors import (
    SidecarError,
    UpstreamAuthFailed,
    UpstreamError,
    UpstreamNotFound,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from service.basics.logs import library_logger
from service.runtime import Services
from service.settings.config import JobSettings
from service.upstream.retry import Tier

# One attempt, a short budget: the check runs beside start-up and never holds it back.
PREFLIGHT = Tier("preflight", timeout_s=5.0, attempts=1)
JOBS_AT_ONCE = 8  # jobs/get calls in flight together: a few, not one per job at once
JOBS_WITHIN_S = 30.0  # the whole job check; the jobs not checked by then are named
_log = library_logger("service.preflight")


async def check_workspace(services: Services) -> None:
    """The credentials, then, if Databricks took them, every configured job id."""
    if await check_credentials(services) is None:
        await check_jobs(services)


async def check_credentials(services: Services) -> str | None:
    """List one job as the service principal; log the outcome; the reason it failed, or None."""
    host = services.settings.workspace.host
    try:
        await services.client.list_jobs(services.service_principal, limit=1, tier=PREFLIGHT)
    except SidecarError as exc:
        reason = _reason(exc, services.settings.workspace.auth_type)
    except Exception as exc:  # a best-effort check must never stop the service it checks
        reason = f"the check itself failed ({type(exc).__name__})"
    else:
        _log.info("startup.credentials_ok", host=host)
        return None
    _log.warning("startup.credentials_unverified", host=host, reason=reason)
    return reason


async def check_jobs(services: Services) -> dict[str, str]:
    """jobs/get each configured job id, JOBS_AT_ONCE at a time, within JOBS_WITHIN_S; warn
    for each job Databricks does not show us; job key -> the reason, for those."""
    jobs = [job for job in services.settings.jobs.values() if job.job_id is not None]
    problems: dict[str, str] = {}
    unchecked = {job.key for job in jobs}
    limiter = anyio.CapacityLimiter(JOBS_AT_ONCE)

    async def check(job: JobSettings) -> None:
        async with limiter:
            reason = await _job_problem(services, job)
        unchecked.discard(job.key)
        if reason is not None:
            problems[job.key] = reason
            _log.warning("startup.job_unverified", job=job.key, job_id=job.job_id, reason=reason)

    with anyio.move_on_after(JOBS_WITHIN_S):
        async with anyio.create_task_group() as tasks:
            for job in jobs:
                tasks.start_soon(check, job)
    if unchecked:
        _log.warning("startup.jobs_unchecked", jobs=sorted(unchecked), within_s=JOBS_WITHIN_S)
    elif not problems:
        _log.info("startup.jobs_ok", jobs=len(jobs))
    return problems


async def _job_problem(services: Services, job: JobSettings) -> str | None:
    assert job.job_id is not None  # noqa: S101 - only jobs with an id are checked
    where = f"job {job.job_id} (configured as {job.key})"
    try:
        await services.client.get_job(services.service_principal, job.job_id, tier=PREFLIGHT)
    except UpstreamNotFound:
        return f"Databricks has no {where}: check the job id in [jobs.{job.key}] or in " + (
            f"DATABRICKS_JOB_{job.key.upper()}"
        )
    except UpstreamAuthFailed as exc:
        if job.run_as == "user":
            return None  # its callers act, with their own permissions on it
        return (
            f"Databricks refused to show {where} (HTTP {exc.upstream_status}): the job may not "
            "exist, or the service principal may not view it (it needs CAN_VIEW or more)"
        )
    except SidecarError as exc:
        return f"could not check {where}: {_reason(exc, services.settings.workspace.auth_type)}"
    except Exception as exc:  # a best-effort check must never stop the service it checks
        return f"could not check {where}: the check itself failed ({type(exc).__name__})"
    return None


def _reason(exc: SidecarError, auth_type: str) -> str:
    status = exc.upstream_status if isinstance(exc, UpstreamError) else None
    if isinstance(exc, UpstreamAuthFailed):
        names = "DATABRICKS_TOKEN"
        if auth_type == "oauth-m2m":
            names = "DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET"
        return f"Databricks refused the credentials (HTTP {status}): check {names}"
    if isinstance(exc, UpstreamTimeout):
        return f"Databricks did not answer within {PREFLIGHT.timeout_s:g} s"
    if isinstance(exc, UpstreamUnavailable) and status is None:
        return f"Databricks is unreachable at DATABRICKS_HOST ({exc.detail or 'no connection'})"
    if isinstance(exc, UpstreamNotFound):
        return f"DATABRICKS_HOST does not serve the Jobs API (HTTP {status})"
    if status is not None:
        return f"Databricks answered HTTP {status}"
    return exc.message
