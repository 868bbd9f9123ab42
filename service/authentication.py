"""Who is calling, by the access mode: the Databricks Apps proxy's word, an API key, or no one.

`Authenticate` is pure ASGI middleware: it finds the caller before routing and puts it in the
scope (`service.callers.caller_of`), or answers 401 itself. The probes, the dashboard's files
(they hold no data: the page reads everything through the API) and `/metrics` unless
`[access] metrics = "auth"` are public: they answer without a caller.

- apps: the proxy names the user in `X-Forwarded-Email` (else `X-Forwarded-Preferred-Username`,
  else `X-Forwarded-User`). Only a peer inside `trusted_proxies` is believed (an IPv4 peer that
  a dual-stack socket shows as `::ffff:a.b.c.d` is matched as the IPv4 address it is); from any
  other peer the headers are ignored, so a forged header from outside is a 401 like no header.
  The user's token (`X-Forwarded-Access-Token`, for `run_as = "user"` jobs) is taken from that
  same trusted proxy only, into the scope (`service.identity.user_token`).
- token: `Authorization: Bearer <key>`, found among the keys in constant time; the caller is the
  key's name. The key file is re-read when it changes (service.key_rotation).
- open: everyone is `anonymous` (allowed on loopback, or with `allow_open = true`).

In token and open modes no proxy vouches for an `X-Forwarded-Access-Token`: a client that sends
one is ignored (a warning, at most once a minute, that never shows the token), so an API-key
caller cannot make a `run_as = "user"` job act with a token of its choosing.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Awaitable, Iterable
from pathlib import Path

import structlog
from starlette.types import ASGIApp, Receive, Scope, Send

from service.api_keys import ApiKey, KeyRing
from service.callers import ANONYMOUS, SCOPE_KEY, Caller, named
from service.clock import Clock, LoopClock
from service.errors import Unauthenticated, error_response
from service.identity import USER_TOKEN_SCOPE_KEY
from service.key_rotation import RotatingKeys
from service.root_path import route_path
from service.settings_file import AccessTable

_log = structlog.get_logger("service.authentication")
PROBES = frozenset({"/livez", "/readyz", "/health"})
# The proxy's headers, in the order a name is taken from them.
_USER_HEADERS = (b"x-forwarded-email", b"x-forwarded-preferred-username", b"x-forwarded-user")
# A printable name of bounded length: it goes into logs, the audit trail and rate-limit keys.
_NAME = re.compile(r"[\x21-\x7e]{1,256}")
_USER_TOKEN = b"x-forwarded-access-token"
IGNORED_TOKEN_LOG_EVERY_S = 60.0
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
        clock: Clock | None = None,
    ) -> None:
        """`public`, `public_prefixes`: paths of files that hold no data (the dashboard, the
        API document's page) and answer without a caller."""
        self.app = app
        self._mode = access.mode
        metrics = {"/metrics"} if access.metrics == "open" else set()
        self._public = PROBES | metrics | set(public)
        self._public_prefixes = public_prefixes
        self._trusted = trusted_networks(access.trusted_proxies)
        clock = clock or LoopClock()
        self._keys: KeyRing | RotatingKeys = KeyRing(api_keys)
        if access.api_keys_file and self._mode == "token":
            self._keys = RotatingKeys(api_keys, Path(access.api_keys_file), clock=clock)
        self._ignored_tokens = IgnoredTokens(clock)

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
        if self._mode == "apps":
            return self._by_proxy(scope)
        if _header(scope, _USER_TOKEN):
            self._ignored_tokens.seen(self._mode)
        if self._mode == "open":
            return ANONYMOUS
        return self._by_key(scope)

    def _by_key(self, scope: Scope) -> Caller | None:
        scheme, _, presented = _header(scope, b"authorization").partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            return None
        name = self._keys.name_of(presented.strip())
        return named(name) if name is not None else None

    def _by_proxy(self, scope: Scope) -> Caller | None:
        """The user the trusted proxy names; their token, when it forwards one, to the scope."""
        if not self._from_trusted_peer(scope):
            return None
        for header in _USER_HEADERS:
            name = _header(scope, header).strip()
            if name:
                if not _NAME.fullmatch(name):
                    return None
                if token := _header(scope, _USER_TOKEN).strip():
                    scope[USER_TOKEN_SCOPE_KEY] = token
                return named(name)
        return None

    def _from_trusted_peer(self, scope: Scope) -> bool:
        client = scope.get("client")
        if not client:
            return False
        try:
            peer = ipaddress.ip_address(client[0])
        except ValueError:
            return False
        return any(address in network for address in _as_ipv4(peer) for network in self._trusted)

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


class IgnoredTokens:
    """The warning that a client sent a user token no proxy vouches for: at most one line a
    minute (each client could send one per request), with how many were ignored meanwhile."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._quiet_until = float("-inf")
        self._unsaid = 0

    def seen(self, mode: str) -> None:
        self._unsaid += 1
        now = self._clock.monotonic()
        if now < self._quiet_until:
            return
        self._quiet_until = now + IGNORED_TOKEN_LOG_EVERY_S
        _log.warning(
            "request.forwarded_token_ignored",
            mode=mode,
            ignored=self._unsaid,
            reason="X-Forwarded-Access-Token is taken only from a trusted proxy in apps mode",
        )
        self._unsaid = 0


Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _as_ipv4(peer: Address) -> tuple[Address, ...]:
    """The peer, and the IPv4 address an IPv4-mapped IPv6 one (`::ffff:10.1.2.3`) stands for."""
    mapped = peer.ipv4_mapped if isinstance(peer, ipaddress.IPv6Address) else None
    return (peer, mapped) if mapped is not None else (peer,)


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
