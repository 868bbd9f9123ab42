"""The exception tree, and its one mapping to JSON error responses.

    SidecarError                       every error this service raises on purpose
    ├── ConfigError                    broken configuration; stops start-up
    ├── RunFailed                      run_and_wait: the run ended without success; carries it
    ├── ClientError                    the caller's request is wrong (4xx)
    │   ├── InvalidRequest             400: malformed body, bad run id, bad parameters
    │   │   └── InvalidParams          400: parameters misfit the schema; each one in `fields`
    │   ├── MissingUserToken           401: run_as = "user" without X-Forwarded-Access-Token
    │   ├── UnknownJob                 404: no such job key
    │   ├── JobNotConfigured           404: a job key without a numeric job id
    │   ├── RunNotFound                404: no such run, or a run of another job
    │   └── Unavailable                503: shutting down, or too many open streams
    └── UpstreamError                  the Jobs API failed us
        ├── UpstreamNotFound           404: Databricks says the resource does not exist
        ├── UpstreamRejected           400: Databricks refused the request as invalid
        ├── UpstreamAuthFailed         502: Databricks refused our credentials (401/403)
        ├── UpstreamThrottled          503: 429 after retries; carries Retry-After
        ├── UpstreamUnavailable        502: 5xx or transport failure
        └── UpstreamTimeout            504: no answer within the tier's time budget

Messages are ours: no upstream text, token or trace reaches a response. Details go to the log.
"""

from __future__ import annotations

import math

from starlette.requests import Request
from starlette.responses import JSONResponse, Response


class SidecarError(Exception):
    status: int = 500
    code: str = "INTERNAL"
    # Set when the failure came after a run was started (run_and_wait): the run exists, and
    # the caller can watch or cancel it rather than trigger another.
    run_id: int | None = None

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class ConfigError(SidecarError):
    code = "CONFIG"


class RunFailed(SidecarError):
    """A run ended without success (failed, cancelled, timed out, skipped); the Python API only.

    `run` is the final run as Databricks sent it; `result_state` its outcome (None when the
    life-cycle state alone tells it, e.g. INTERNAL_ERROR or SKIPPED).
    """

    code = "RUN_FAILED"

    def __init__(self, message: str, *, run_id: int, run: dict[str, object]) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.run = run
        state = run.get("state")
        self.result_state = state.get("result_state") if isinstance(state, dict) else None


class ClientError(SidecarError):
    status = 400
    code = "BAD_REQUEST"


class InvalidRequest(ClientError):
    pass


class InvalidParams(InvalidRequest):
    """Parameters that do not fit the job's schema: `fields` holds `{"field", "message"}` each."""

    def __init__(self, message: str, *, fields: list[dict[str, str]]) -> None:
        super().__init__(message)
        self.fields = fields


class MissingUserToken(ClientError):
    status = 401
    code = "UNAUTHENTICATED"


class UnknownJob(ClientError):
    status = 404
    code = "UNKNOWN_JOB"


class JobNotConfigured(ClientError):
    status = 404
    code = "JOB_NOT_CONFIGURED"


class RunNotFound(ClientError):
    status = 404
    code = "RUN_NOT_FOUND"


class Unavailable(ClientError):
    status = 503
    code = "UNAVAILABLE"


class UpstreamError(SidecarError):
    """The Jobs API failed us; `upstream_status` and `detail` are for logs only."""

    status = 502
    code = "UPSTREAM_ERROR"

    def __init__(
        self,
        message: str,
        *,
        upstream_status: int | None = None,
        upstream_code: str | None = None,
        detail: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, retry_after=retry_after)
        self.upstream_status = upstream_status
        self.upstream_code = upstream_code
        self.detail = detail


class UpstreamNotFound(UpstreamError):
    status = 404
    code = "NOT_FOUND"


class UpstreamRejected(UpstreamError):
    status = 400
    code = "UPSTREAM_REJECTED"


class UpstreamAuthFailed(UpstreamError):
    status = 502
    code = "UPSTREAM_AUTH"


class UpstreamThrottled(UpstreamError):
    status = 503
    code = "UPSTREAM_THROTTLED"


class UpstreamUnavailable(UpstreamError):
    status = 502
    code = "UPSTREAM_UNAVAILABLE"


class UpstreamTimeout(UpstreamError):
    status = 504
    code = "UPSTREAM_TIMEOUT"


def error_body(exc: SidecarError) -> dict[str, object]:
    """The JSON body for an error: our message and code, never upstream internals."""
    body: dict[str, object] = {"error": exc.message, "code": exc.code, "plugin": "jobs"}
    if isinstance(exc, InvalidParams):
        body["fields"] = exc.fields
    return body


def error_response(exc: SidecarError) -> Response:
    headers = {}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    return JSONResponse(error_body(exc), status_code=exc.status, headers=headers)


async def handle_sidecar_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SidecarError)  # noqa: S101 - registered for SidecarError only
    return error_response(exc)
