"""Who is calling, by the access mode: the Databricks Apps proxy's word, an API key, or no one.

`Authenticate` is pure ASGI middleware: it finds the caller before routing and puts it in the
scope (`service.callers.caller_of`), or answers 401 itself. The probes, the dashboard's files
(they hold no data: the page reads everything through the API) and `/metrics` unless
`[access] metrics = "auth"` are public: they answer without a caller.

- apps: the proxy names the user in `X-Forwarded-Email` (else `X-Forwarded-Preferred-Username`,
  else `X-Forwarded-User`). Only a peer inside `trusted_proxies` is believed; from any other peer
  the headers are ignored, so a forged header from outside is a 401 like no header at all.
- token: `Authorization: Bearer <key>`, found among the keys in constant time; the caller is the
  key's name.
- open: everyone is `anonymous` (allowed on loopback, or with `allow_open = true`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Awaitable, Iterable

import structlog
from starlette.types import ASGIApp, Receive, Scope, Send

from service.api_keys import ApiKey, KeyRing
from service.callers import ANONYMOUS, SCOPE_KEY, Caller
from service.errors import Unauthenticated, error_response
from service.root_path import route_path
from service.settings_file import AccessTable

_log = structlog.get_logger("service.authentication")
PROBES = frozenset({"/livez", "/readyz", "/health"})
# The proxy's headers, in the order a name is taken from them.
_USER_HEADERS = (b"x-forwarded-email", b"x-forwarded-preferred-username", b"x-forwarded-user")
# A printable name of bounded length: it goes into logs, the audit trail and rate-limit keys.
_NAME = re.compile(r"[\x21-\x7e]{1,256}")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Authenticate:
    """Put the caller in the scope, or answer 401 (with `WWW-Authenticate` in token mode)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        access: AccessTable,
        api_keys: tuple[ApiKey, ...],
        public: Iterable[str] = (),
        public_prefixes: tuple[str, ...] = (),
    ) -> None:
        """`public`, `public_prefixes`: paths of files that hold no data (the dashboard, the
        API document's page) and answer without a caller."""
        self.app = app
        self._mode = access.mode
        metrics = {"/metrics"} if access.metrics == "open" else set()
        self._public = PROBES | metrics | set(public)
        self._public_prefixes = public_prefixes
        self._trusted = trusted_networks(access.trusted_proxies)
        self._keys = KeyRing(api_keys)

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # A tail call, not an `await`: no frame of ours held for a request's (or an event
        # stream's) whole life (bench 2: ~0.3 KB of each stream).
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        caller = self._caller(scope)
        if caller is not None:
            scope[SCOPE_KEY] = caller
        elif not self._is_public(route_path(scope)):
            return self._refuse(scope, receive, send)
        return self.app(scope, receive, send)

    def _is_public(self, path: str) -> bool:
        return path in self._public or path.startswith(self._public_prefixes)

    def _caller(self, scope: Scope) -> Caller | None:
        if self._mode is None:  # no mode chosen: `check_serving` refuses to serve; no one here
            return None
        if self._mode == "open":
            return ANONYMOUS
        if self._mode == "token":
            return self._by_key(scope)
        return self._by_proxy(scope)

    def _by_key(self, scope: Scope) -> Caller | None:
        scheme, _, presented = _header(scope, b"authorization").partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            return None
        name = self._keys.name_of(presented.strip())
        return Caller(name) if name is not None else None

    def _by_proxy(self, scope: Scope) -> Caller | None:
        if not self._from_trusted_peer(scope):
            return None
        for header in _USER_HEADERS:
            name = _header(scope, header).strip()
            if name:
                return Caller(name) if _NAME.fullmatch(name) else None
        return None

    def _from_trusted_peer(self, scope: Scope) -> bool:
        client = scope.get("client")
        if not client:
            return False
        try:
            peer = ipaddress.ip_address(client[0])
        except ValueError:
            return False
        return any(peer in network for network in self._trusted)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._mode == "token":
            message = "Authentication required: send Authorization: Bearer <API key>"
            challenge = 'Bearer realm="jobs-sidecar"'
        else:
            message = "Authentication required: call through the Databricks Apps proxy"
            challenge = None
        _log.info("request.unauthenticated", mode=self._mode)
        response = error_response(Unauthenticated(message))
        if challenge:
            response.headers["WWW-Authenticate"] = challenge
        await response(scope, receive, send)


def trusted_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """The CIDRs as networks; a malformed one is a ValueError naming it."""
    networks = []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError:
            raise ValueError(f"trusted_proxies: {cidr!r} is not a CIDR (e.g. 10.0.0.0/8)") from None
    return tuple(networks)


def _header(scope: Scope, name: bytes) -> str:
    value: bytes
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return ""
