"""`/docs`: Swagger UI over `/openapi.json`, its files served from the installed package.

The files come from the `swagger-ui-bundle-v2` distribution (Swagger UI 5, which reads OpenAPI
3.1), never from a CDN, so the page works with no internet (in a workspace, on a laptop offline).
Every URL on the page is relative, so it works at the root of a Databricks App as well.

The page and its files carry the dashboard's security headers (service.pages): a strict
Content-Security-Policy (Swagger UI's own scripts and styles, its one inline script by hash,
calls to this origin only), `nosniff`, and no framing at all (`frame-ancestors 'none'`,
`X-Frame-Options: DENY`): a page that framed /docs could make a visitor click "Execute".
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from swagger_ui_bundle import swagger_ui_path

from service.pages import HEADERS as PAGE_HEADERS

# `validatorUrl: null`: Swagger UI would otherwise send the document to validator.swagger.io.
_INIT = """
    window.ui = SwaggerUIBundle({
      url: "openapi.json",
      dom_id: "#swagger-ui",
      validatorUrl: null,
      deepLinking: true
    });
  """
_PAGE = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>jobs-sidecar API</title>
  <link rel="stylesheet" href="docs/assets/swagger-ui.css">
  <link rel="icon" type="image/png" href="docs/assets/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="docs/assets/swagger-ui-bundle.js"></script>
  <script>{_INIT}</script>
</body>
</html>
"""
_INIT_HASH = base64.b64encode(hashlib.sha256(_INIT.encode()).digest()).decode()
HEADERS = {
    **PAGE_HEADERS,
    "Content-Security-Policy": (
        f"default-src 'none'; script-src 'self' 'sha256-{_INIT_HASH}'; style-src 'self'; "
        "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
}


DOCS_PAGE = "/docs"
DOCS_ASSETS = "/docs/assets"


def assets_dir() -> Path:
    """Swagger UI's files in the installed package."""
    return Path(str(swagger_ui_path))


async def docs(_request: Request) -> Response:
    return HTMLResponse(_PAGE, headers=HEADERS)


class _WithHeaders:
    """Swagger UI's files, each answer with the page's security headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).update(HEADERS)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def docs_routes() -> list[BaseRoute]:
    """The page and its files; neither is part of the API document."""
    assets = _WithHeaders(StaticFiles(directory=assets_dir()))
    return [
        Route(DOCS_PAGE, docs, methods=["GET"], name="docs", include_in_schema=False),
        Mount(DOCS_ASSETS, assets, name="docs_assets"),
    ]
