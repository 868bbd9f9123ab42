"""The app factory and its lifespan: every resource is opened here and closed here."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import structlog
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware

from service import credential_check
from service.basics.clock import Clock
from service.basics.errors import SidecarError
from service.front_door.audited import AuditWrites
from service.front_door.authentication import PROBES, Authenticate
from service.front_door.body_limits import BodyLimits
from service.front_door.cors import Cors
from service.front_door.cross_site import CrossSiteGuard
from service.front_door.hosts import HostCheck
from service.runtime import open_services
from service.settings.access_mode import in_force
from service.settings.config import Settings
from service.settings.host_names import HostNames
from service.web.access_log import AccessLog
from service.web.docs_page import DOCS_ASSETS, DOCS_PAGE
from service.web.error_handlers import handle_http_error, handle_sidecar_error
from service.web.pages import PAGES, page_routes
from service.web.route_table import routes

_log = structlog.get_logger("service.app")


def create_app(
    settings: Settings,
    *,
    upstream: httpx.AsyncBaseTransport | None = None,
    clock: Clock | None = None,
    draining: asyncio.Event | None = None,
    stopping: asyncio.Event | None = None,
    check_credentials: bool = False,
) -> Starlette:
    """Build the ASGI app; `upstream` replaces the network (tests), `draining`/`stopping` the CLI's.

    `stopping` fails readiness only (the CLI sets it at SIGTERM); `draining` also refuses new
    work, ends streams and stops Hypercorn (set `drain_delay_ms` after `stopping`).
    `check_credentials`: one authenticated call beside start-up, a warning if it fails (serve).
    """

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[dict[str, object]]:
        for warning in settings.warnings:
            _log.warning("config.warning", message=warning)
        _log.info("access.in_force", **in_force(settings.access, settings.listen_host))
        async with open_services(
            settings, transport=upstream, clock=clock, draining=draining, stopping=stopping
        ) as services:
            _log.info("app.started", jobs=sorted(settings.jobs), host=settings.workspace.host)
            if check_credentials:
                services.tasks.start_soon(credential_check.check_workspace, services)
            yield {"services": services}
        _log.info("app.stopped")

    table = [*routes(), *page_routes()]
    app = Starlette(
        routes=table,
        middleware=[
            Middleware(AccessLog),
            Middleware(AuditWrites, routes=table),
            Middleware(
                HostCheck,
                hosts=HostNames(settings.listen_host, settings.access.allowed_hosts),
                exempt=PROBES,
            ),
            Middleware(Cors, origins=settings.access.cors_origins),
            Middleware(CrossSiteGuard, allowed_origins=settings.allowed_origins),
            Middleware(
                Authenticate,
                access=settings.access,
                api_keys=settings.api_keys,
                public={*PAGES, DOCS_PAGE},
                public_prefixes=(DOCS_ASSETS + "/",),
                clock=clock,
            ),
            Middleware(
                BodyLimits,
                max_bytes=settings.max_body_bytes,
                timeout_s=settings.body_timeout_ms / 1000,
            ),
        ],
        exception_handlers={
            SidecarError: handle_sidecar_error,
            HTTPException: handle_http_error,
        },
        lifespan=lifespan,
    )
    # No redirect from `/path/` to `/path`: Starlette's names the client's Host (and scheme),
    # which would send a client anywhere its Host header said. A trailing slash is a 404.
    app.router.redirect_slashes = False
    return app
