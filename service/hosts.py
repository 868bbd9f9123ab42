"""The Host names the service answers to; a request naming any other gets 421 before routing.

Why: DNS rebinding. A page on `rebind.example`, whose name its owner re-points at 127.0.0.1 (or
at the service's address), is same-origin with the service as far as the browser knows: it may
POST and read the answers, and its `Origin` and `Sec-Fetch-Site: same-origin` are truthful, so
service/origin.py lets it through. What the page cannot choose is the `Host` header: the
browser sends the page's own name. So only the names the service is served under are answered:

- loopback: `localhost`, 127.0.0.0/8 and ::1;
- the bind address (HOST); bound to every interface (0.0.0.0, ::), any IP address, since a
  browser that sends an address as Host reached no name anyone could re-point;
- inside Databricks Apps (DATABRICKS_APP_PORT set), `*.databricksapps.com`, names only
  Databricks resolves, and the host of DATABRICKS_APP_URL when it is set;
- `[access] allowed_hosts` and ALLOWED_HOSTS: names, `*.example.com` (its subdomains only) or
  addresses.

Ports are not compared: a proxy may add one, and rebinding changes the name, not the port. A
request without Host (HTTP/1.0) is no browser's and passes. The probes are exempt: a kubelet or
a balancer probes with any Host (often the pod's IP), a 421 there would restart a healthy
replica, and they hold no data.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Awaitable, Iterable, Mapping
from urllib.parse import urlsplit

import structlog
from starlette.types import ASGIApp, Receive, Scope, Send

from service.echo import echo
from service.errors import MisdirectedHost, error_response
from service.root_path import route_path

_log = structlog.get_logger("service.hosts")
APPS_DOMAIN = "*.databricksapps.com"
LOOPBACK = ("localhost", "127.0.0.0/8", "::1")
_NAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")
# A Host header: a name or an address, `[v6]` bracketed, then an optional port.
_HOST = re.compile(r"(?:\[(?P<v6>[0-9a-f:.]+)\]|(?P<name>[a-z0-9_.-]+))(?::[0-9]{1,5})?")
_REMEMBERED = 64  # Host values found allowed, kept so the common case is one set lookup
_REFUSED = (
    "Misdirected request: this service does not answer to that Host name "
    "(names it serves: [access] allowed_hosts)"
)
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def checked_entries(entries: Iterable[str]) -> tuple[str, ...]:
    """`allowed_hosts` entries in their one spelling; a malformed one is a ValueError naming it."""
    checked: dict[str, None] = {}
    for raw in entries:
        entry = raw.strip().lower().removesuffix(".")
        address = _address(entry.strip("[]"))
        if address is not None:
            entry = str(address)
        elif not _NAME.fullmatch(entry.removeprefix("*.")):
            raise ValueError(
                f"allowed_hosts: {raw!r} is not a host name, *.domain or IP address "
                "(no scheme, port or path)"
            )
        checked[entry] = None
    return tuple(checked)


def platform_hosts(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The names Databricks Apps serves the app under (see the module's docstring)."""
    found = [APPS_DOMAIN] if environ.get("DATABRICKS_APP_PORT", "").strip() else []
    raw_url = environ.get("DATABRICKS_APP_URL", "").strip()
    if raw_url:
        found.append(urlsplit(raw_url if "://" in raw_url else f"https://{raw_url}").hostname or "")
    try:
        return checked_entries(found)
    except ValueError:
        raise ValueError(f"DATABRICKS_APP_URL is not a URL: {echo(raw_url)!r}") from None


class HostNames:
    """Whether a Host header names this service: loopback, the bind address, the allowed list."""

    def __init__(self, listen_host: str, allowed: Iterable[str] = ()) -> None:
        listen = listen_host.strip().lower().strip("[]")
        entries = checked_entries(allowed)
        bound = _address(listen)
        self._any_address = bound is not None and bound.is_unspecified
        self._shown = [*LOOPBACK, "any IP address" if self._any_address else listen, *entries]
        addresses: list[Address] = []
        names = ["localhost"]
        for entry in (listen, *entries):
            address = _address(entry)
            if address is None:
                names.append(entry)
            elif not address.is_unspecified:
                addresses.append(address)
        self._addresses = frozenset(addresses)
        self._names = frozenset(name for name in names if not name.startswith("*."))
        self._suffixes = tuple(name[1:] for name in names if name.startswith("*."))
        self._known: set[bytes] = set()

    def shown(self) -> list[str]:
        """The names, as the start-up line gives them."""
        return list(dict.fromkeys(self._shown))

    def allows(self, value: bytes) -> bool:
        """Whether a Host header's value is one of ours (remembered when it is)."""
        if value in self._known:
            return True
        match = _HOST.fullmatch(value.decode("latin-1").strip().lower())
        if match is None:
            return False
        name = match["v6"] or match["name"].removesuffix(".")
        address = _address(name)
        if address is not None:
            allowed = address.is_loopback or self._any_address or address in self._addresses
        else:
            allowed = name in self._names or name.endswith(self._suffixes)
        if allowed and len(self._known) < _REMEMBERED:
            self._known.add(value)
        return allowed


class HostCheck:
    """421 MISDIRECTED_HOST for a request whose Host is not one of `hosts` (pure ASGI)."""

    def __init__(self, app: ASGIApp, *, hosts: HostNames, exempt: Iterable[str] = ()) -> None:
        self.app = app
        self.hosts = hosts
        self._exempt = frozenset(exempt)

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # A tail call: no frame of ours held for a request's (or a stream's) life.
        if scope["type"] == "http" and route_path(scope) not in self._exempt:
            value: bytes
            for name, value in scope["headers"]:
                if name == b"host":
                    if not self.hosts.allows(value):
                        return self._refuse(scope, receive, send, value)
                    break
        return self.app(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, value: bytes) -> None:
        _log.info("request.host_refused", host=echo(value.decode("latin-1")))
        await error_response(MisdirectedHost(_REFUSED))(scope, receive, send)


def _address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
