"""The reference: a bare Starlette + Hypercorn endpoint returning fixed bytes, served like ours."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from hypercorn.asyncio import serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service.serving.server import hypercorn_config


def create(body: bytes) -> Starlette:
    async def status(_request: Request) -> Response:
        return Response(body, media_type="application/json")

    return Starlette(routes=[Route("/api/jobs/{job_key}/status", status)])


if __name__ == "__main__":
    port, body_file = int(sys.argv[1]), Path(sys.argv[2])
    app = create(body_file.read_bytes())
    asyncio.run(serve(app, hypercorn_config("127.0.0.1", port, 1.0)))  # type: ignore[arg-type]
