"""The exception tree, and the JSON body of each error (`error_body`).

    SidecarError                       every error this service raises on purpose (500 INTERNAL)
    ├── ConfigError                    broken configuration; stops start-up
    ├── CannotListen                   the port is in use (or not ours to bind); stops start-up
    ├── RunFailed                      run_and_wait: the run ended without success; carries it
    ├── WaitTimeout                    504: a run did not finish within the job's wait_timeout_ms
    ├── ClientError                    the caller's request is wrong (4xx)
    │   ├── InvalidRequest             400: malformed body, bad run id, bad parameters
    │   │   └── InvalidParams          400: parameters misfit the schema; each one in `fields`
    │   ├── Unauthenticated            401: no caller (no trusted proxy headers, no valid API key)
    │   │   └── MissingUserToken       401: run_as = "user" without X-Forwarded-Access-Token
    │   ├── UserTokenRefused           401: Databricks refused the forwarded user token
    │   ├── Forbidden                  403: the caller may view the job but not run it
    │   ├── UnknownJob                 404: no such job key (or one the caller may not view)
    │   ├── JobNotConfigured           404: a job key without a numeric job id
    │   ├── RunNotFound                404: no such run, or a run of another job
    │   ├── CrossOrigin                403: a POST or DELETE a browser sent from another site
    │   ├── RequestTimeout             408: the request's head or body did not arrive in time
    │   ├── PayloadTooLarge            413: the request body is over max_body_bytes
    │   ├── MisdirectedHost            421: a Host name the service does not answer to
    │   ├── HeadersTooLarge            431: the request head is over 16 KiB (serving/http1.py)
    │   ├── RouteRefused               404/405: no such route or method (HTTP_<status>)
    │   ├── RunNotFinished             409: a repair of a run still in progress
    │   ├── NothingToRepair            409: a repair of every failed task of a run with none
    │   ├── IdempotencyKeyReused       422: an Idempotency-Key reused with other parameters
    │   └── RateLimited                429: over a [limits] rate or the caller's open streams
    ├── Unavailable                    503: we are shutting down, or have too many open streams
    └── UpstreamError                  the Jobs API failed us
        ├── UpstreamNotFound           404: Databricks says the resource does not exist
        │   └── JobNotFound            404: Databricks has no job of the configured job id
        ├── UpstreamRejected           400: Databricks refused the request as invalid
        ├── UpstreamAuthFailed         502: Databricks refused our credentials (401/403)
        ├── UpstreamThrottled          503: 429 after retries; carries Retry-After
        ├── UpstreamUnavailable        502: 5xx or transport failure
        ├── UpstreamInvalid            502: a 2xx reply that is not what it claims (HTML, bad JSON)
        ├── UpstreamTooLarge           502: a reply over `max_upstream_bytes`
        ├── UpstreamTimeout            504: no answer within the tier's time budget
        └── OutcomeUnknown             502/503/504: run-now (or a repair) was sent and its
                                       answer lost; the run (or repair) may exist: retry with
                                       the error's idempotency key

Messages are ours: no upstream text, token or trace reaches a response. Details go to the log.
`codes_sent()` is every `code` a client can be sent, read off this tree (README's error table
lists each: tests/basics/test_errors.py holds the two together).
"""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal

import msgspec


class SidecarError(Exception):
    status: int = 500
    code: str = "INTERNAL"
    # False for a class whose own code no answer or event carries: start-up's errors, the Python
    # API's own, and a base never raised itself (read per class by `codes_sent`, not inherited).
    sent: ClassVar[bool] = True
    # Set when the failure came after a run was started (run_and_wait): the run exists, and
    # the caller can watch or cancel it rather than trigger another.
    run_id: int | None = None
    # Set on an unknown outcome: retrying with this key returns the run, or starts exactly one.
    idempotency_key: str | None = None

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class ConfigError(SidecarError):
    code = "CONFIG"
    sent = False


class CannotListen(SidecarError):
    """The listening socket cannot be bound; the message names the setting that moves it."""

    code = "CANNOT_LISTEN"
    sent = False


class RunFailed(SidecarError):
    """A run ended without success (failed, cancelled, timed out, skipped); the Python API only.

    `run` is the final run as Databricks sent it; `result_state` its outcome (None when the
    life-cycle state alone tells it, e.g. INTERNAL_ERROR or SKIPPED).
    """

    code = "RUN_FAILED"
    sent = False

    def __init__(self, message: str, *, run_id: int, run: dict[str, object]) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.run = run
        state = run.get("state")
        self.result_state = state.get("result_state") if isinstance(state, dict) else None


class WaitTimeout(SidecarError):
    """Following a run to its end took longer than the job allows (SSE and Python alike)."""

    status = 504
    code = "WAIT_TIMEOUT"

    def __init__(self, run_id: int, wait_timeout_ms: int) -> None:
        super().__init__(f"Run {run_id} did not finish within {wait_timeout_ms} ms")
        self.run_id = run_id


class ClientError(SidecarError):
    status = 400
    code = "BAD_REQUEST"


class InvalidRequest(ClientError):
    pass


class InvalidParams(InvalidRequest):
    """Parameters that do not fit the job's schema: `fields` holds `{"field", "message"}` each,
    and `detail` where the validator said more."""

    def __init__(self, message: str, *, fields: list[dict[str, str]]) -> None:
        super().__init__(message)
        self.fields = fields


class Unauthenticated(ClientError):
    status = 401
    code = "UNAUTHENTICATED"


class MissingUserToken(Unauthenticated):
    pass


class UserTokenRefused(ClientError):
    status = 401
    code = "USER_TOKEN_REFUSED"


class Forbidden(ClientError):
    """The job's `[jobs.<key>.access] run` does not name the caller (trigger, cancel)."""

    status = 403
    code = "FORBIDDEN"


class UnknownJob(ClientError):
    status = 404
    code = "UNKNOWN_JOB"


class JobNotConfigured(ClientError):
    status = 404
    code = "JOB_NOT_CONFIGURED"


class RunNotFound(ClientError):
    status = 404
    code = "RUN_NOT_FOUND"


class CrossOrigin(ClientError):
    status = 403
    code = "CROSS_ORIGIN"


class RequestTimeout(ClientError):
    status = 408
    code = "REQUEST_TIMEOUT"


class PayloadTooLarge(ClientError):
    status = 413
    code = "PAYLOAD_TOO_LARGE"


class MisdirectedHost(ClientError):
    """The request names a Host the service is not served under (service/front_door/hosts.py)."""

    status = 421
    code = "MISDIRECTED_HOST"


class HeadersTooLarge(ClientError):
    status = 431
    code = "HEADERS_TOO_LARGE"


class RouteRefused(ClientError):
    """Starlette's own refusals (no such route, method not allowed), coded `HTTP_<status>`."""

    statuses: ClassVar[tuple[int, ...]] = (404, 405)  # what Starlette's routing refuses with

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status
        self.code = f"HTTP_{status}"


class RunNotFinished(ClientError):
    """A repair of a run that has not ended: repair it once it has."""

    status = 409
    code = "RUN_NOT_FINISHED"


class NothingToRepair(ClientError):
    """A repair of every failed task of a run in which none failed."""

    status = 409
    code = "NOTHING_TO_REPAIR"


class IdempotencyKeyReused(ClientError):
    status = 422
    code = "IDEMPOTENCY_KEY_REUSED"


class RateLimited(ClientError):
    """Over a limit of `[limits]`; `Retry-After` says when the caller may try again."""

    status = 429
    code = "RATE_LIMITED"


class Unavailable(SidecarError):
    """Our own refusal for now (not the caller's fault, not upstream's): retry after a while."""

    status = 503
    code = "UNAVAILABLE"


class UpstreamError(SidecarError):
    """The Jobs API failed us; `upstream_status` and `detail` are for logs only."""

    status = 502
    code = "UPSTREAM_ERROR"
    sent = False  # a base: each failure is one of its subclasses

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


class JobNotFound(UpstreamNotFound):
    """Databricks has no job of the id configured for a key (jobs/get, run-now, runs/list):
    the likeliest set-up mistake, said with the key and the id, apart from a missing run."""

    code = "JOB_NOT_FOUND"

    def __init__(self, key: str, job_id: int, *, cause: UpstreamError) -> None:
        super().__init__(
            f"Databricks has no job {job_id} (configured as {key})",
            upstream_status=cause.upstream_status,
            upstream_code=cause.upstream_code,
            detail=cause.detail,
        )


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


class UpstreamInvalid(UpstreamError):
    """A 2xx whose body is not the JSON object the verb promises: a login page, a cut or garbled
    body. Retried like a 5xx: it is most often a proxy's passing fault, and a retry is bounded."""

    status = 502
    code = "UPSTREAM_INVALID"


class UpstreamTooLarge(UpstreamError):
    """A reply longer than we read; never retried, as the next answer would be as long."""

    status = 502
    code = "UPSTREAM_TOO_LARGE"


class UpstreamTimeout(UpstreamError):
    status = 504
    code = "UPSTREAM_TIMEOUT"


class OutcomeUnknown(UpstreamError):
    """Whether run-now started a run is unknown; `status` says why (502 lost, 504 timed out,
    503 shutting down). The same key and parameters again return that run or start one."""

    code = "OUTCOME_UNKNOWN"

    def __init__(
        self,
        message: str,
        *,
        status: int = 502,
        detail: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, detail=detail, retry_after=retry_after)
        self.status = status


# Errors made in more than one place, each with one message wherever it is raised.
_UNSAFE_KEY_CHARS = re.compile(r"[^A-Za-z0-9_-]")


def sanitize_key(key: str) -> str:
    """A job key as a message may repeat it: its safe characters, at most 100."""
    return _UNSAFE_KEY_CHARS.sub("", key)[:100]


def unknown_job(key: str) -> UnknownJob:
    """One answer for a key no job has and a job the caller may not view
    (service.front_door.permissions)."""
    return UnknownJob(f'Unknown job "{sanitize_key(key)}"')


def run_not_found(run_id: int) -> RunNotFound:
    """One answer for a missing run and another job's run, so neither reveals the other."""
    return RunNotFound(f"Run {run_id} not found")


def codes_sent() -> frozenset[str]:
    """Every `code` an HTTP answer or an event stream's `error` event can carry."""
    codes: set[str] = set()
    classes: list[type[SidecarError]] = [SidecarError]
    while classes:
        cls = classes.pop()
        classes.extend(cls.__subclasses__())
        if not cls.__dict__.get("sent", True):
            continue
        if issubclass(cls, RouteRefused):
            codes.update(f"HTTP_{status}" for status in cls.statuses)
        else:
            codes.add(cls.code)
    return frozenset(codes)


class FieldError(msgspec.Struct, frozen=True, omit_defaults=True):
    """One parameter that misfits the job's schema."""

    field: Annotated[str, msgspec.Meta(description="The parameter's name")]
    message: Annotated[
        str, msgspec.Meta(description='What it must be, for people: "must be a date like ..."')
    ]
    detail: Annotated[
        str | msgspec.UnsetType,
        msgspec.Meta(description="What was wrong with the value, in the validator's words"),
    ] = msgspec.UNSET


# The API document's schema of `error_body`'s dict (tests hold the two together).
class ErrorBody(msgspec.Struct, frozen=True):
    """Every error answer, in a response or in an `error` event."""

    error: Annotated[str, msgspec.Meta(description="What went wrong, for people")]
    code: Annotated[str, msgspec.Meta(description="What went wrong, for programs")]
    plugin: Literal["jobs"]
    idempotencyKey: str | msgspec.UnsetType = msgspec.UNSET  # noqa: N815 - the wire name
    fields: list[FieldError] | msgspec.UnsetType = msgspec.UNSET


def error_body(exc: SidecarError) -> dict[str, object]:
    """The JSON body for an error: our message and code, never upstream internals."""
    body: dict[str, object] = {"error": exc.message, "code": exc.code, "plugin": "jobs"}
    if exc.idempotency_key is not None:
        body["idempotencyKey"] = exc.idempotency_key
    if isinstance(exc, InvalidParams):
        body["fields"] = exc.fields
    return body
