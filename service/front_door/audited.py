"""`@audited(action)`: a route's endpoint inside `audit.record`, one audit line per request;
and `AuditWrites`, the line of a write refused before its endpoint ran.

The caller comes from the front door (`Authenticate`), the job key from the path and the key from
the `Idempotency-Key` header, so even a request refused before its body is read is accounted for.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.basics.callers import SCOPE_KEY, Caller, caller_of
from service.basics.echo import echo
from service.basics.ids import positive_int64
from service.jobs.audit import Action, Entry, record, write

Endpoint = Callable[[Request], Awaitable[Response | ASGIApp]]
# Set in the scope by an `@audited` endpoint: its line is written, `AuditWrites` adds none.
_AUDITED = "jobs_sidecar.audited"
_ACTION = "audit_action"  # the attribute that marks an `@audited` endpoint, and its action


class _ErrorCode(msgspec.Struct):
    code: str | None = None


_error_code = msgspec.json.Decoder(_ErrorCode)


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
                write(entry, "http", outcome, status, code)


def _code_of(body: bytes) -> str | None:
    """The `code` of one of our JSON error bodies (sent whole, in one message)."""
    try:
        return _error_code.decode(body).code
    except msgspec.DecodeError:
        return None
