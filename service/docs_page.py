"""`/docs`: Swagger UI over `/openapi.json`, its files served from the installed package.

The files come from the `swagger-ui-bundle-v2` distribution (Swagger UI 5, which reads OpenAPI
3.1), never from a CDN, so the page works with no internet (in a workspace, on a laptop offline).
Every URL on the page is relative, so it works at the root of a Databricks App as well.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

# `validatorUrl: null`: Swagger UI would otherwise send the document to validator.swagger.io.
_PAGE = """<!doctype html>
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
  <script>
    window.ui = SwaggerUIBundle({
      url: "openapi.json",
      dom_id: "#swagger-ui",
      validatorUrl: null,
      deepLinking: true
    });
  </script>
</body>
</html>
"""


DOCS_PAGE = "/docs"
DOCS_ASSETS = "/docs/assets"


def assets_dir() -> Path:
    """Swagger UI's files in the installed package."""
    return Path(str(swagger_ui_path))


async def docs(_request: Request) -> Response:
    return HTMLResponse(_PAGE)


def docs_routes() -> list[BaseRoute]:
    """The page and its files; neither is part of the API document."""
    return [
        Route(DOCS_PAGE, docs, methods=["GET"], name="docs", include_in_schema=False),
        Mount(DOCS_ASSETS, StaticFiles(directory=assets_dir()), name="docs_assets"),
    ]
