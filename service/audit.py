"""The audit line: one `audit` log line (logger `service.audit`) per write: trigger, cancel,
repair, rerun and cancel_all.

Written once per write whatever its outcome, when the write is over (`record`'s block ends,
even by an exception), with: `action` (trigger | cancel | repair | rerun | cancel_all), `via`
(http | python), `caller`,
`job_key`, `run_id` (when known), `outcome`, `status`, `code` (an error's), `request_id`, and
`params_digest` / `idempotency_key_digest`: the first 16 hex digits of the SHA-256 of the
parameters' canonical JSON (sorted keys) and of the key, never their values (parameters may be
sensitive). Outcomes:

    started    a run was started (trigger, rerun), or a repair (repair) (200)
    reused     the Idempotency-Key's run (or repair), from memory: nothing was sent (200)
    cancelled  cancel (or cancel_all) was accepted (204)
    refused    our refusal: 400, 401, 403, 404, 409, 422, 429, 503 shutting down
    failed     Databricks failed or refused the call (UPSTREAM_*, 4xx/5xx mapped)
    unknown    run-now was sent and its answer lost (OUTCOME_UNKNOWN): the run may exist
    error      a bug (500)

A write refused before its route runs (401 without a caller, 403 `CROSS_ORIGIN`, a body declared
over the limit: 413) has its line too, from `AuditWrites`, which watches every request to an
`@audited` route and writes the line its endpoint did not: `caller` is null when no caller was
found yet, `params_digest` null (the body was never read).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import Literal

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service import logs
from service.callers import SCOPE_KEY, Caller, caller_of
from service.echo import echo
from service.errors import OutcomeUnknown, SidecarError, UpstreamError
from service.ids import positive_int64

Action = Literal["trigger", "cancel", "repair", "rerun", "cancel_all"]
_CANCELS = frozenset({"cancel", "cancel_all"})
Endpoint = Callable[[Request], Awaitable[Response | ASGIApp]]
_canonical = msgspec.json.Encoder(order="sorted")
_log = logs.library_logger("service.audit")
# The write being served, so the trigger path can say what it did (reused) without a return.
_current: ContextVar[Entry | None] = ContextVar("audit_entry", default=None)
# Set in the scope by an `@audited` endpoint: its line is written, `AuditWrites` adds none.
_AUDITED = "jobs_sidecar.audited"
_ACTION = "audit_action"  # the attribute that marks an `@audited` endpoint, and its action


class _ErrorCode(msgspec.Struct):
    code: str | None = None


_error_code = msgspec.json.Decoder(_ErrorCode)


def digest(value: object) -> str:
    """The first 16 hex digits of the SHA-256 of `value`'s canonical JSON (a str: its UTF-8)."""
    data = value.encode() if isinstance(value, str) else _canonical.encode(value)
    return hashlib.sha256(data).hexdigest()[:16]


class Entry:
    """What one write did, filled in as it goes."""

    __slots__ = ("action", "caller", "job_key", "key_digest", "params_digest", "reused", "run_id")

    def __init__(self, action: Action, caller: str | None, job_key: str) -> None:
        self.action = action
        self.caller = caller
        self.job_key = job_key
        self.run_id: int | None = None
        self.reused = False
        self.params_digest: str | None = None
        self.key_digest: str | None = None

    def params(self, params: object) -> None:
        self.params_digest = digest(params)

    def idempotency_key(self, key: str | None) -> None:
        self.key_digest = digest(key) if key is not None else None


def note_params(params: object) -> None:
    """The parameters the write was asked with (only their digest is kept)."""
    if (entry := _current.get()) is not None:
        entry.params(params)


def note_run(run_id: int, *, reused: bool = False) -> None:
    """The run the write is about; `reused`: answered from the idempotency memory."""
    if (entry := _current.get()) is not None:
        entry.run_id = run_id
        entry.reused = reused


def audited(action: Action) -> Callable[[Endpoint], Endpoint]:
    """A route's endpoint, with the audit line of its request (caller, job key from the path)."""

    def wrap(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def audited_endpoint(request: Request) -> Response | ASGIApp:
            caller = caller_of(request).name
            job_key = request.path_params["job_key"]
            key = request.headers.get("idempotency-key")
            request.scope[_AUDITED] = True
            with record(action, caller=caller, job_key=job_key, via="http", idempotency_key=key):
                return await endpoint(request)

        setattr(audited_endpoint, _ACTION, action)
        return audited_endpoint

    return wrap


@contextlib.contextmanager
def record(
    action: Action, *, caller: str, job_key: str, via: str, idempotency_key: str | None = None
) -> Iterator[Entry]:
    """Log the write done in the block: its outcome from the block's end or exception."""
    entry = Entry(action, echo(caller), echo(job_key))
    entry.idempotency_key(idempotency_key)
    context = _current.set(entry)
    outcome, status = "error", 500
    code: str | None = "INTERNAL"
    try:
        yield entry
        status = 204 if action in _CANCELS else 200
        outcome = "cancelled" if action in _CANCELS else "reused" if entry.reused else "started"
        code = None
    except SidecarError as exc:
        outcome, status, code = _failure(exc), exc.status, exc.code
        if exc.idempotency_key is not None:  # handed out with an unknown outcome
            entry.idempotency_key(exc.idempotency_key)
        if exc.run_id is not None:
            entry.run_id = exc.run_id
        raise
    finally:
        _current.reset(context)
        _write(entry, via, outcome, status, code)


def _write(entry: Entry, via: str, outcome: str, status: int, code: str | None) -> None:
    _log.info(
        "audit",
        action=entry.action,
        via=via,
        caller=entry.caller,
        job_key=entry.job_key,
        run_id=entry.run_id,
        outcome=outcome,
        status=status,
        code=code,
        request_id=logs.request_id.get(),
        params_digest=entry.params_digest,
        idempotency_key_digest=entry.key_digest,
    )


def _failure(exc: SidecarError) -> str:
    if isinstance(exc, OutcomeUnknown):
        return "unknown"
    if isinstance(exc, UpstreamError):
        return "failed"
    return "refused"


class AuditWrites:
    """The audit line of a write whose `@audited` endpoint never ran: refused on the way in.

    Pure ASGI, just inside the access log (its request id is set); requests of other methods
    than the writes' pass at once. A request to a write route is matched as the router will
    match it, and when it ends without its endpoint's line, one line is written here, from the
    answer's status and error code.
    """

    def __init__(self, app: ASGIApp, *, routes: Iterable[BaseRoute]) -> None:
        self.app = app
        self._writes = [
            (route, action)
            for route in routes
            if isinstance(route, Route) and (action := getattr(route.endpoint, _ACTION, None))
        ]
        self._methods = frozenset(m for route, _ in self._writes for m in route.methods or ())

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # A tail call for what is not a write: no frame of ours held for a stream's life.
        if scope["type"] == "http" and scope["method"] in self._methods:
            for route, action in self._writes:
                match, child = route.matches(scope)
                if match is Match.FULL:
                    entry = Entry(action, None, echo(child["path_params"]["job_key"]))
                    entry.run_id = positive_int64(child["path_params"].get("run_id", ""))
                    return self._watched(entry, scope, receive, send)
        return self.app(scope, receive, send)

    async def _watched(self, entry: Entry, scope: Scope, receive: Receive, send: Send) -> None:
        status: int | None = None
        code: str | None = None

        async def watching(message: Message) -> None:
            nonlocal status, code
            if message["type"] == "http.response.start":
                status = message["status"]
            elif status is not None and status >= 400 and code is None:
                code = _code_of(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, watching)
        finally:
            if not scope.get(_AUDITED):
                caller: Caller | None = scope.get(SCOPE_KEY)
                entry.caller = echo(caller.name) if caller is not None else None
                for name, value in scope["headers"]:
                    if name == b"idempotency-key":
                        entry.idempotency_key(value.decode("latin-1"))
                        break
                if status is None:  # a bug before any answer: the access log answers 500
                    status, code = 500, "INTERNAL"
                outcome = "refused" if 400 <= status < 500 or status == 503 else "error"
                _write(entry, "http", outcome, status, code)


def _code_of(body: bytes) -> str | None:
    """The `code` of one of our JSON error bodies (sent whole, in one message)."""
    try:
        return _error_code.decode(body).code
    except msgspec.DecodeError:
        return None
