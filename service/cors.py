"""Which other sites' pages may call from a browser: CORS for `[access] cors_origins`.

Starlette's `CORSMiddleware` answers for the allowed origins: preflights (the request headers a
page sends: Content-Type, Idempotency-Key, Last-Event-ID, X-Request-Id, Authorization) and the
response headers it may read (X-Request-Id, Retry-After, Idempotency-Key, RateLimit-*), with
credentials (cookies, the Apps proxy's session) for explicit origins, never for `*`.

Why a wrapper: `CORSMiddleware` adds some `Access-Control-*` headers to every answer to a
request with an `Origin`, allowed or not; here another origin gets none (its preflight is a
403 `CROSS_ORIGIN`, its other requests pass on untouched). And its refusal of an allowed
origin's preflight asking for a method or header not allowed is `400 text/plain`: here it is
our JSON error (400 `BAD_REQUEST`, naming what was refused), with the same CORS headers.
Writes from another site are refused by `service.origin.CrossSiteGuard`, which allows the same
explicit origins; `*` opens reads only (no credentials), never writes.

This sits outside `Authenticate`: a preflight carries no credentials, and a page must be able
to read a 401 or a 429.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from service.echo import echo
from service.errors import CrossOrigin, InvalidRequest, error_response

ANY = "*"
ALLOWED_METHODS = ("GET", "POST", "DELETE")
ALLOWED_HEADERS = (
    "Content-Type",
    "Idempotency-Key",
    "Last-Event-ID",
    "X-Request-Id",
    "Authorization",  # token mode, from a page that holds an API key
)
EXPOSED_HEADERS = (
    "X-Request-Id",
    "Retry-After",
    "Idempotency-Key",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
)
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Request headers a page may send without asking: CORSMiddleware allows them too.
_SAFELISTED = frozenset({"accept", "accept-language", "content-language", "content-type"})


def checked_origins(origins: Iterable[str]) -> tuple[str, ...]:
    """Each origin as a browser writes it (`scheme://host[:port]`, lower case, no default
    port), or `*` alone; anything else is a ValueError naming it."""
    checked = tuple(_origin(origin) for origin in origins)
    if ANY in checked and len(checked) > 1:
        raise ValueError('cors_origins: "*" stands alone (it allows every origin, reads only)')
    return checked


def explicit(origins: Iterable[str]) -> tuple[str, ...]:
    """The origins whose pages may also write (trigger, cancel): all but `*`."""
    return tuple(origin for origin in origins if origin != ANY)


def _origin(raw: str) -> str:
    if raw.strip() == ANY:
        return ANY
    hint = f"cors_origins: {raw!r} is not an origin: write scheme://host[:port], or *"
    try:
        parts = urlsplit(raw.strip())
        port = parts.port
    except ValueError:
        raise ValueError(hint) from None
    if (
        parts.scheme not in _DEFAULT_PORTS
        or not parts.hostname
        or parts.username is not None
        or parts.password is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        raise ValueError(hint)
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    shown_port = "" if port in (None, _DEFAULT_PORTS[parts.scheme]) else f":{port}"
    return f"{parts.scheme}://{host}{shown_port}"


class Cors:
    """CORS for the allowed origins; nothing `Access-Control-*` for any other."""

    def __init__(self, app: ASGIApp, *, origins: Iterable[str]) -> None:
        self.app = app
        origins = tuple(origins)
        self._any = ANY in origins
        self._allowed = frozenset(origins)
        self._cors = _JsonRefusals(
            app,
            allow_origins=origins,
            allow_methods=ALLOWED_METHODS,
            allow_headers=ALLOWED_HEADERS,
            allow_credentials=not self._any,
            expose_headers=EXPOSED_HEADERS,
        )

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # A tail call: no frame of ours held for a request's (or an event stream's) life.
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        origin: bytes | None = None
        preflight = False
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value
            elif name == b"access-control-request-method":
                preflight = scope["method"] == "OPTIONS"
        if origin is None:
            return self.app(scope, receive, send)
        if self._any or origin.decode("latin-1") in self._allowed:
            return self._cors(scope, receive, send)
        if preflight:
            refused = CrossOrigin("This origin may not call the service from a browser")
            return error_response(refused)(scope, receive, send)
        return self.app(scope, receive, send)


class _JsonRefusals(CORSMiddleware):
    """Starlette's CORS, its preflight refusals as our JSON errors."""

    def preflight_response(self, request_headers: Headers) -> Response:
        answer = super().preflight_response(request_headers)
        if answer.status_code < 400:
            return answer
        refused = InvalidRequest(f"CORS preflight refused: {_refused(request_headers)}")
        response = error_response(refused)
        for name, value in answer.headers.items():
            if name.startswith("access-control-") or name == "vary":
                response.headers[name] = value
        return response


def _refused(request_headers: Headers) -> str:
    """What the preflight asked for that is not allowed, and what is."""
    reasons = []
    method = request_headers["access-control-request-method"]
    if method not in ALLOWED_METHODS:
        reasons.append(
            f"method {echo(method, 40)} is not allowed (allowed: {', '.join(ALLOWED_METHODS)})"
        )
    allowed = {name.lower() for name in ALLOWED_HEADERS} | _SAFELISTED
    asked = request_headers.get("access-control-request-headers", "").split(",")
    extra = [name.strip() for name in asked if name.strip() and name.strip().lower() not in allowed]
    if extra:
        reasons.append(
            f"headers {echo(', '.join(extra), 80)} are not allowed "
            f"(allowed: {', '.join(ALLOWED_HEADERS)})"
        )
    if "access-control-request-private-network" in request_headers:
        reasons.append("private network access is not allowed")
    return "; ".join(reasons) or "not allowed"
