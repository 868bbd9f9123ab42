"""The app's exception handlers: our errors, and Starlette's own refusals, as JSON error answers.

Starlette raises `HTTPException` for a path no route has (404) or a method none allows (405:
with an `Allow` header naming the methods of every route on the path, service.web.allow); each
becomes `RouteRefused`'s body (`HTTP_<status>`), like every other error of this service.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from service.basics.errors import RouteRefused, SidecarError, error_body
from service.front_door.error_response import error_response
from service.web.allow import allowed_methods


async def handle_sidecar_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SidecarError)  # noqa: S101 - registered for SidecarError only
    return error_response(exc)


async def handle_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)  # noqa: S101 - registered for HTTPException only
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code)
    body = error_body(RouteRefused(exc.detail, status=exc.status_code))
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = allowed_methods(request.app.routes, request.scope) or ""
    return JSONResponse(body, status_code=exc.status_code, headers=headers)
