"""The Host names the service answers to; a request naming any other gets 421 before routing.

Why: DNS rebinding. A page on `rebind.example`, whose name its owner re-points at 127.0.0.1 (or
at the service's address), is same-origin with the service as far as the browser knows: it may
POST and read the answers, and its `Origin` and `Sec-Fetch-Site: same-origin` are truthful, so
service/front_door/cross_site.py lets it through. What the page cannot choose is the `Host` header:
the browser sends the page's own name. So only the names the service is served under are answered:

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

from collections.abc import Awaitable, Iterable

import structlog
from starlette.types import ASGIApp, Receive, Scope, Send

from service.basics.echo import echo
from service.basics.errors import MisdirectedHost
from service.basics.root_path import route_path
from service.front_door.error_response import error_response
from service.settings.host_names import HostNames

_log = structlog.get_logger("service.hosts")
_REFUSED = (
    "Misdirected request: this service does not answer to that Host name "
    "(names it serves: [access] allowed_hosts)"
)


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
