"""Request context and the access log, as pure ASGI middleware (locals, no shared state)."""

from __future__ import annotations

import random
import re
import time

import msgspec
import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service import logs
from service.echo import echo
from service.errors import SidecarError, error_body
from service.root_path import route_path

_log = structlog.get_logger("service.access")
# Headers a layer inside wants on this request's response (e.g. RateLimit-*): one list per
# request in its scope, appended by the access log's own send wrapper (no layer of their own).
RESPONSE_HEADERS = "jobs_sidecar.response_headers"
_JSON_HEADERS = [(b"content-type", b"application/json")]
_INTERNAL_ERROR = msgspec.json.encode(error_body(SidecarError("Internal error")))
_QUIET = frozenset({"/livez", "/readyz", "/health"})
# No control characters, spaces or quotes: the id goes into a response header and every log line.
_CLIENT_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")


class AccessLog:
    """One line per request: request id, method, route, job key, status, duration."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # Bound once per app (after logging is configured), not looked up through the lazy
        # proxy on every request: this line is written for every request.
        self._log = _log.bind()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        status = 500  # until the app starts a response
        started_response = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                started_response = True
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", ()),
                    (b"x-request-id", request_id.encode()),
                    *scope.get(RESPONSE_HEADERS, ()),
                ]
            await send(message)

        context = logs.request_id.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            # A bug, not an upstream failure (those are mapped by the exception handlers): the
            # client gets a plain JSON 500, the log gets the exception type, nobody a traceback.
            self._log.error("http.unhandled_error", error=type(exc).__name__)
            if not started_response:
                await send_with_id(
                    {"type": "http.response.start", "status": 500, "headers": _JSON_HEADERS}
                )
                await send({"type": "http.response.body", "body": _INTERNAL_ERROR})
        finally:
            path = route_path(scope)
            if path not in _QUIET or status >= 400:
                route = scope.get("route")
                template = route.path if route else path
                self._log.info(
                    "http.request",
                    method=scope["method"],
                    route=template,
                    job_key=_job_key(scope),
                    status=status,
                    duration_ms=round((time.perf_counter() - started) * 1000, 2),
                )
            logs.request_id.reset(context)


def add_response_headers(scope: Scope, headers: list[tuple[bytes, bytes]]) -> None:
    """Have the response to this request carry `headers` too (set before it starts)."""
    scope.setdefault(RESPONSE_HEADERS, []).extend(headers)


def _request_id(scope: Scope) -> str:
    """The client's id when it is a plain token (it is echoed and logged), else a fresh one."""
    value: bytes
    for name, value in scope["headers"]:
        if name == b"x-request-id" and _CLIENT_REQUEST_ID.fullmatch(value):
            return value.decode()
    # 96 random bits, as unique as a uuid4 for correlating lines; no secret depends on it, so
    # the process's PRNG serves (os.urandom is a system call per request).
    return f"{random.getrandbits(96):024x}"


def _job_key(scope: Scope) -> str | None:
    key = scope.get("path_params", {}).get("job_key")
    return echo(key) if isinstance(key, str) else None  # as the client sent it: bounded
