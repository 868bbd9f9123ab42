"""Refuse state-changing requests that a browser marks as sent from another site (403).

A page on any site can make a visitor's browser POST here: a `Content-Type: text/plain` POST
needs no CORS preflight, so without this guard another site could start or cancel runs as the
visitor. Browsers say where a request comes from: `Sec-Fetch-Site` (modern ones) and `Origin`
(every cross-origin POST or DELETE). curl, servers and the Python API send neither, so they are
unaffected; so are GET, HEAD and OPTIONS, which change nothing (and pass at once, unread).

"The service's own origin" is the one the browser used: behind the Databricks Apps proxy that is
`X-Forwarded-Host` (which a cross-site page cannot set without a preflight). That proxy sends no
`X-Forwarded-Proto`, so with a forwarded host and no forwarded scheme only host and port are
compared.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable

import structlog
from starlette.types import ASGIApp, Receive, Scope, Send

from service.basics.echo import echo
from service.basics.errors import CrossOrigin
from service.front_door.error_response import error_response

_log = structlog.get_logger("service.origin")
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_OWN_SITE = frozenset({b"same-origin", b"none"})  # `none`: typed in the address bar, a bookmark
_FOREIGN_SITE = frozenset({b"cross-site", b"same-site"})
_READ = frozenset(
    {b"origin", b"sec-fetch-site", b"host", b"x-forwarded-host", b"x-forwarded-proto"}
)
_DEFAULT_PORTS = {"http": ":80", "https": ":443"}
_REFUSED = "Cross-site request refused: runs are started and cancelled from this service's pages"


class CrossSiteGuard:
    """403 CROSS_ORIGIN for a POST or DELETE from another site, unless its origin is allowed."""

    def __init__(self, app: ASGIApp, *, allowed_origins: Iterable[str] = ()) -> None:
        self.app = app
        self._allowed = frozenset(_normalized(origin) for origin in allowed_origins)

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # A tail call for reads: no frame of ours held for a request's (or a stream's) life.
        if scope["type"] != "http" or scope["method"] in _SAFE_METHODS:
            return self.app(scope, receive, send)
        return self._guarded(scope, receive, send)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            if name in _READ:
                headers.setdefault(name, value)
        if self._foreign(scope, headers):
            origin = headers.get(b"origin", b"").decode("latin-1")
            site = headers.get(b"sec-fetch-site", b"").decode("latin-1")
            _log.warning("request.cross_site_refused", origin=echo(origin), site=echo(site))
            await error_response(CrossOrigin(_REFUSED))(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _foreign(self, scope: Scope, headers: dict[bytes, bytes]) -> bool:
        raw_origin = headers.get(b"origin")
        origin = _normalized(raw_origin.decode("latin-1")) if raw_origin is not None else None
        if origin in self._allowed:
            return False
        site = headers.get(b"sec-fetch-site")
        if site in _OWN_SITE:
            return False
        if site in _FOREIGN_SITE:
            return True
        if origin is None:  # not a browser, or an old one on this service's own page
            return False
        return origin != _own_origin(scope, headers, origin)


def _own_origin(scope: Scope, headers: dict[bytes, bytes], origin: str) -> str:
    """This service's origin as the browser sees it, in `origin`'s scheme when unknown."""
    forwarded_host = _first(headers.get(b"x-forwarded-host"))
    forwarded_proto = _first(headers.get(b"x-forwarded-proto"))
    host = forwarded_host or _first(headers.get(b"host")) or ""
    if forwarded_proto:
        scheme = forwarded_proto
    elif forwarded_host:
        scheme = origin.partition("://")[0]
    else:
        scheme = str(scope.get("scheme", "http"))
    return _normalized(f"{scheme}://{host}")


def _first(value: bytes | None) -> str | None:
    """The first of a comma-separated header's values (the one the client's proxy set)."""
    if value is None:
        return None
    return value.decode("latin-1").split(",", 1)[0].strip() or None


def _normalized(origin: str) -> str:
    """`scheme://host[:port]`, lower case, without the scheme's default port or a trailing /."""
    origin = origin.strip().rstrip("/").lower()
    scheme = origin.partition("://")[0]
    default_port = _DEFAULT_PORTS.get(scheme)
    if default_port and origin.endswith(default_port):
        origin = origin.removesuffix(default_port)
    return origin
