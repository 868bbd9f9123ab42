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
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from service import preflight
from service.access_mode import in_force
from service.allow import allowed_methods
from service.audit import AuditWrites
from service.authentication import PROBES, Authenticate
from service.body_limits import BodyLimits
from service.clock import Clock
from service.config import Settings
from service.cors import Cors
from service.docs_page import DOCS_ASSETS, DOCS_PAGE
from service.errors import RouteRefused, SidecarError, error_body, handle_sidecar_error
from service.hosts import HostCheck, HostNames
from service.middleware import AccessLog
from service.origin import CrossSiteGuard
from service.pages import PAGES, page_routes
from service.routes import routes
from service.runtime import open_services

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
                services.tasks.start_soon(preflight.check_workspace, services)
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
            HTTPException: _http_error,
        },
        lifespan=lifespan,
    )
    # No redirect from `/path/` to `/path`: Starlette's names the client's Host (and scheme),
    # which would send a client anywhere its Host header said. A trailing slash is a 404.
    app.router.redirect_slashes = False
    return app


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)  # noqa: S101 - registered for HTTPException only
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code)
    body = error_body(RouteRefused(exc.detail, status=exc.status_code))
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = allowed_methods(request.app.routes, request.scope) or ""
    return JSONResponse(body, status_code=exc.status_code, headers=headers)
