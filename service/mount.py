"""The service inside another ASGI app: the app to mount, and the lifespan its parent enters.

Starlette's `Mount` (and FastAPI's `app.mount`, the same thing) hands a mounted app its
requests but never its lifespan, so the service's resources (the HTTP client, the cache, the
poll loops) would never open. `mountable` returns both halves; the parent's own lifespan enters
the sidecar's::

    sidecar = mountable(settings)

    @asynccontextmanager
    async def lifespan(app):
        async with sidecar.lifespan():
            yield

    app = Starlette(routes=[Mount("/jobs", app=sidecar.app), ...], lifespan=lifespan)

Requests below the mount point see the service as if it were served alone (service.root_path):
`/jobs/api/jobs/etl/run`, the dashboard at `/jobs/`, `watchUrl`s under `/jobs`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import msgspec
from starlette.types import ASGIApp, Receive, Scope, Send

from service.app import create_app
from service.config import Settings, check_serving


class Mountable(msgspec.Struct, frozen=True):
    """`app` to mount in a parent app; `lifespan()` for the parent's lifespan to enter."""

    app: ASGIApp
    lifespan: Callable[[], AbstractAsyncContextManager[None]]


def mountable(
    settings: Settings,
    *,
    upstream: httpx.AsyncBaseTransport | None = None,
    draining: asyncio.Event | None = None,
) -> Mountable:
    """The service for mounting; raises ConfigError where `serve` would refuse to start.

    `draining`: set it when the server starts to shut down (Hypercorn's `shutdown_trigger`), so
    open event streams end with `event: shutdown` instead of holding the shutdown up.
    `upstream` replaces the network (tests).
    """
    check_serving(settings)  # a mounted sidecar serves HTTP: it needs an access mode too
    app = create_app(settings, upstream=upstream, draining=draining)
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        if state:
            raise RuntimeError("the sidecar's lifespan is already running")
        async with app.router.lifespan_context(app) as opened:
            state.update(opened or {})
            try:
                yield
            finally:
                state.clear()

    async def mounted_app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            if not state:
                raise RuntimeError(
                    "the jobs sidecar's lifespan is not running: enter `sidecar.lifespan()` "
                    "in your app's lifespan (a mounted app's own lifespan never runs)"
                )
            # The parent's lifespan state is what the server copies into each request; the
            # sidecar's handlers find their services in it, beside the parent's own entries.
            scope = {**scope, "state": {**scope.get("state", {}), **state}}
        await app(scope, receive, send)

    return Mountable(app=mounted_app, lifespan=lifespan)
