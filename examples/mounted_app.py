"""The sidecar inside your own Starlette app: mounted at /jobs, its lifespan entered by yours.

    HOST=127.0.0.1 PORT=8000 DATABRICKS_HOST=http://127.0.0.1:8001 DATABRICKS_TOKEN=dapi-local-dev \
        JOBS_CONFIG=config/demo.toml .venv/bin/python examples/mounted_app.py

Your page is at /, the jobs API at /jobs/api/jobs/..., the dashboard at /jobs/. FastAPI is the
same: `app = FastAPI(lifespan=lifespan)` and `app.mount("/jobs", sidecar.app)`.

The environment is read as the service reads it (docs/configuration.md). HOST and PORT (or
DATABRICKS_APP_PORT, in Databricks Apps) say where this app listens, and so which access mode
the sidecar may take: open on loopback, apps in Databricks Apps, else set ACCESS_MODE.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from hypercorn.asyncio import serve
from hypercorn.config import Config
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route

from service import ConfigError, Mountable, config_path, load_settings, mountable


def create_app(sidecar: Mountable) -> Starlette:
    """Your app: its own routes, and the sidecar under /jobs."""

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # A mounted app's own lifespan never runs: yours opens the sidecar's resources.
        async with sidecar.lifespan():
            yield

    async def home(_request: Request) -> HTMLResponse:
        return HTMLResponse('<h1>My app</h1><p><a href="jobs/">Jobs</a></p>')

    return Starlette(routes=[Route("/", home), Mount("/jobs", app=sidecar.app)], lifespan=lifespan)


async def main(environ: Mapping[str, str]) -> int:
    settings = load_settings(environ, config_path(None, environ))
    stopping = asyncio.Event()  # set by SIGTERM or Ctrl-C
    try:
        # `draining`: open event streams end with `event: shutdown` when the server stops.
        sidecar = mountable(settings, draining=stopping)
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    config = Config()
    config.bind = [f"{settings.listen_host}:{settings.port}"]
    config.accesslog = None
    await serve(create_app(sidecar), config, shutdown_trigger=stopping.wait)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(os.environ)))
