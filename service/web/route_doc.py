"""What the API document says about a route, written beside its handler (`@documented(...)`).

`service.web.openapi` reads these descriptors off the route table, so the table stays the one list
of paths and methods, and a handler's reply struct is the schema of its reply.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

from service.basics.errors import (
    CrossOrigin,
    InvalidRequest,
    JobNotConfigured,
    JobNotFound,
    MissingUserToken,
    OutcomeUnknown,
    PayloadTooLarge,
    RequestTimeout,
    RunNotFound,
    SidecarError,
    UnknownJob,
    UpstreamAuthFailed,
    UpstreamInvalid,
    UpstreamRejected,
    UpstreamThrottled,
    UpstreamTimeout,
    UpstreamTooLarge,
    UpstreamUnavailable,
    UserTokenRefused,
)
from service.upstream.wire import SCHEMA_REF

REF = SCHEMA_REF
_F = TypeVar("_F", bound=Callable[..., Any])


class ErrorCase(msgspec.Struct, frozen=True):
    """One documented error answer: its status and `code`."""

    status: int
    code: str


class Query(msgspec.Struct, frozen=True):
    name: str
    schema: dict[str, Any]
    description: str


class Event(msgspec.Struct, frozen=True):
    """One named event of a `text/event-stream` reply, and the type of its JSON data."""

    name: str
    data: Any
    description: str


class Reply(msgspec.Struct, frozen=True):
    """One documented answer besides the errors: status, body type (None: no body), media type."""

    status: int
    description: str
    body: Any = None
    media_type: str = "application/json"
    events: tuple[Event, ...] = ()


class RouteDoc(msgspec.Struct, frozen=True):
    """The document's view of one route.

    `job`: a route about a job, which the front door guards (401, 403, 429 are documented).
    `per_job`: one operation per configured job key, each with the job's parameter schema.
    `body`: the request body's members beside `params` (JSON Schema each), for a `per_job`
    route whose `params` are optional (a repair's); None: `{"params": ...}` alone (a trigger's).
    """

    summary: str
    replies: tuple[Reply, ...]
    errors: tuple[ErrorCase, ...] = ()
    query: tuple[Query, ...] = ()
    headers: tuple[str, ...] = ()
    job: bool = False
    per_job: bool = False
    body: dict[str, Any] | None = None


def documented(doc: RouteDoc) -> Callable[[_F], _F]:
    """Attach `doc` to an endpoint; Starlette keeps the endpoint as `route.endpoint`."""

    def mark(endpoint: _F) -> _F:
        endpoint.api_doc = doc  # type: ignore[attr-defined]
        return endpoint

    return mark


def doc_of(endpoint: object) -> RouteDoc | None:
    doc = getattr(endpoint, "api_doc", None)
    return doc if isinstance(doc, RouteDoc) else None


def errors(*classes: type[SidecarError]) -> tuple[ErrorCase, ...]:
    """The cases of error classes whose status and code are fixed by the class."""
    return tuple(ErrorCase(status=c.status, code=c.code) for c in classes)


# What any route about a job may answer, beyond the front door's 401/403/429. The user-token
# errors come from `run_as = "user"` jobs; the upstream ones from any call to Databricks.
UPSTREAM_ERRORS = errors(
    UpstreamRejected,
    UpstreamAuthFailed,
    UpstreamUnavailable,
    UpstreamInvalid,
    UpstreamTooLarge,
    UpstreamThrottled,
    UpstreamTimeout,
)
JOB_ERRORS = errors(UnknownJob, JobNotConfigured, MissingUserToken, UserTokenRefused)
# A route that asks Databricks about the job itself (jobs/get, run-now, runs/list): its id may
# be one Databricks does not know. A route about a run asks about the run (RUN_NOT_FOUND).
JOB_ID_ERRORS = errors(JobNotFound)
RUN_ERRORS = (*JOB_ERRORS, *errors(InvalidRequest, RunNotFound), *UPSTREAM_ERRORS)
# A POST or DELETE: refused from another site, and its body is bounded in size and time.
WRITE_ERRORS = errors(CrossOrigin, RequestTimeout, PayloadTooLarge)
OUTCOME_UNKNOWN = tuple(ErrorCase(status=s, code=OutcomeUnknown.code) for s in (502, 503, 504))
# What the front door (issue 10) answers on every route about a job: who, whether, how often.
FRONT_DOOR = (
    ErrorCase(status=401, code="UNAUTHENTICATED"),
    ErrorCase(status=403, code="FORBIDDEN"),
    ErrorCase(status=429, code="RATE_LIMITED"),
)
