"""The dashboard and the browser client: files of `service/web/static/`, served as they are.

Only the files named here are served, each with its type, a strict Content-Security-Policy (the
page runs its own scripts and talks to its own origin, nothing else) and `no-cache` with an
ETag, so a new release is picked up at the next load while an unchanged file costs a 304. The
files are small: each is read once, when the app is built.
"""

from __future__ import annotations

import hashlib
from importlib.resources import files

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

# Beside this module, wherever the package puts it (pyproject names the files as package data).
STATIC = files(__name__.rpartition(".")[0]) / "static"
# Why this differs from StaticFiles: a fixed list (nothing else under static/ is reachable, and
# an unknown path stays our JSON 404) and the same security headers on every file.
PAGES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/client.js": ("client.js", "text/javascript; charset=utf-8"),
    "/client.d.ts": ("client.d.ts", "application/typescript; charset=utf-8"),
    "/dashboard.js": ("dashboard.js", "text/javascript; charset=utf-8"),
    "/dashboard.css": ("dashboard.css", "text/css; charset=utf-8"),
    "/dom.js": ("dom.js", "text/javascript; charset=utf-8"),
    "/charts.js": ("charts.js", "text/javascript; charset=utf-8"),
    "/form.js": ("form.js", "text/javascript; charset=utf-8"),
    "/run-view.js": ("run-view.js", "text/javascript; charset=utf-8"),
    "/runs-view.js": ("runs-view.js", "text/javascript; charset=utf-8"),
    "/job-card.js": ("job-card.js", "text/javascript; charset=utf-8"),
    "/task-table.js": ("task-table.js", "text/javascript; charset=utf-8"),
    "/matrix.js": ("matrix.js", "text/javascript; charset=utf-8"),
    "/states.js": ("states.js", "text/javascript; charset=utf-8"),
    "/confirm.js": ("confirm.js", "text/javascript; charset=utf-8"),
    "/api-key.js": ("api-key.js", "text/javascript; charset=utf-8"),
}
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}


def page_routes() -> list[BaseRoute]:
    """A GET route per file (HEAD too, as Starlette adds it)."""
    return [_route(path, name, media_type) for path, (name, media_type) in PAGES.items()]


def _route(path: str, name: str, media_type: str) -> Route:
    content = (STATIC / name).read_bytes()
    etag = f'"{hashlib.sha256(content).hexdigest()[:32]}"'
    headers = {**HEADERS, "ETag": etag}

    async def serve(request: Request) -> Response:
        if etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        return Response(content, media_type=media_type, headers=headers)

    return Route(path, serve, methods=["GET"], name=f"static:{name}", include_in_schema=False)
