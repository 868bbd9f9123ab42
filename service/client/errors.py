"""The client's exceptions, one per way a call can end badly, each with the service's answer.

JobsError                    every error of this client: status, code, message, fields
├── Refused                  4xx: the service said no, and did nothing
│   ├── BadRequest           400: bad parameters (each in `fields`), run id or limit
│   ├── Unauthenticated      401: no API key, or not one the service knows
│   ├── Forbidden            403: the caller may view the job but not run it
│   ├── NotFound             404: no such job (or not the caller's to view), or run
│   ├── Conflict             409: not now (RUN_NOT_FINISHED, NOTHING_TO_REPAIR)
│   ├── KeyReused            422: an Idempotency-Key reused with other parameters
│   └── RateLimited          429: over a rate; `retry_after` says when to try again
├── ServiceFailed            5xx: the service answered that it could not do it
├── Unreachable              status 0, code NETWORK: no answer from the service
├── OutcomeUnknown           a trigger, repair or rerun may have happened: retry with
│                            `idempotency_key` to get it, never a second one
├── WatchFailed              status 0: a stream's `event: error` (e.g. WAIT_TIMEOUT)
└── RunFailed                the run ended without success; `result` and `run` say how
"""

from __future__ import annotations

import math
from typing import Any

import msgspec


class FieldError(msgspec.Struct, frozen=True):
    """One parameter that misfits the job's schema, as a 400 names it."""

    field: str
    message: str


class JobsError(Exception):
    """An error of a call to the service: HTTP `status` (0 without one), `code`, `message`."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        fields: tuple[FieldError, ...] = (),
        retry_after: float | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields
        self.retry_after = retry_after
        # On a write: the key it was sent with; the same call with it again is safe.
        self.idempotency_key = idempotency_key

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.status}, {self.code!r}, {self.message!r})"


class Refused(JobsError):
    pass


class BadRequest(Refused):
    pass


class Unauthenticated(Refused):
    pass


class Forbidden(Refused):
    pass


class NotFound(Refused):
    pass


class Conflict(Refused):
    pass


class KeyReused(Refused):
    pass


class RateLimited(Refused):
    pass


class ServiceFailed(JobsError):
    pass


class Unreachable(JobsError):
    def __init__(self, message: str, *, idempotency_key: str | None = None) -> None:
        super().__init__(0, "NETWORK", message, idempotency_key=idempotency_key)


class OutcomeUnknown(JobsError):
    pass


class WatchFailed(JobsError):
    pass


class RunFailed(JobsError):
    """The run ended without success: `result` (FAILED, CANCELED, ...), the final `run`."""

    def __init__(self, run_id: int, result: str | None, run: dict[str, Any]) -> None:
        super().__init__(0, "RUN_FAILED", f"Run {run_id} ended {result or 'without success'}")
        self.run_id = run_id
        self.result = result
        self.run = run


_REFUSALS: dict[int, type[Refused]] = {
    400: BadRequest,
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: KeyReused,
    429: RateLimited,
}


class _Body(msgspec.Struct):
    """The service's error answer (and `event: error` data); lenient, as any reader should be."""

    error: str
    code: str
    plugin: str | None = None
    idempotencyKey: str | None = None  # noqa: N815 - the wire name
    fields: tuple[FieldError, ...] = ()


_decode_body = msgspec.json.Decoder(_Body).decode


def ours(content: bytes) -> bool:
    """Whether a body is the service's own error answer (not a proxy's page)."""
    try:
        _decode_body(content)
    except (msgspec.DecodeError, RecursionError):
        return False
    return True


def error_from(status: int, content: bytes, headers: Any) -> JobsError:
    """The exception for an error answer: by status, with the body's code and message when the
    body is the service's, else `HTTP_<status>` (a proxy's page: its text is not shown)."""
    key = headers.get("idempotency-key")
    fields: tuple[FieldError, ...] = ()
    try:
        body = _decode_body(content)
    except (msgspec.DecodeError, RecursionError):
        code, message = f"HTTP_{status}", f"HTTP {status}"
    else:
        code, message, fields = body.code, body.error, body.fields
        key = body.idempotencyKey or key
    kind: type[JobsError]
    if status >= 500:
        kind = OutcomeUnknown if code == "OUTCOME_UNKNOWN" else ServiceFailed
    else:
        kind = _REFUSALS.get(status, Refused)
    return kind(
        status,
        code,
        message,
        fields=fields,
        retry_after=retry_after(headers.get("retry-after")),
        idempotency_key=key,
    )


def stream_error(data: str) -> WatchFailed:
    """A stream's `event: error`: the same body as an HTTP error's, with no status."""
    try:
        body = _decode_body(data)
    except (msgspec.DecodeError, RecursionError):
        return WatchFailed(0, "STREAM_ERROR", "The stream ended with an unreadable error event")
    return WatchFailed(0, body.code, body.error, fields=body.fields)


def retry_after(value: str | None) -> float | None:
    """`Retry-After` in seconds (the service sends seconds; an HTTP date counts as absent)."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None
