"""The app factory: the emulated workspace behind the Jobs API, OAuth, SCIM `Me` and control."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from service.emulator.api import JobsApi
from service.emulator.auth import (
    BearerAuthMiddleware,
    host_metadata,
    oidc_metadata,
    token_endpoint,
)
from service.emulator.clock import EmulatorClock, ScaledClock
from service.emulator.control import control_routes
from service.emulator.errors import (
    ApiError,
    handle_api_error,
    handle_http_exception,
    handle_unexpected,
    json_response,
)
from service.emulator.faults import FaultMiddleware
from service.emulator.inputs import bearer_token, origin
from service.emulator.run_page import run_page_routes
from service.emulator.scenario import Scenario
from service.emulator.scim import SCIM_ME_PATH, me
from service.emulator.stats import RecordingMiddleware
from service.emulator.workspace import Emulator


def create_emulator_app(
    scenario: Scenario,
    *,
    clock: EmulatorClock | None = None,
    base_url: str | None = None,
) -> Starlette:
    """A Starlette app emulating one workspace; `clock` defaults to real time at scenario speed.

    `base_url` is where clients reach the app (for run_page_url and OAuth discovery); without
    it, each request's own scheme and Host header are used.
    """
    emulator = Emulator(scenario, clock or ScaledClock(speed=scenario.speed), base_url=base_url)
    app = Starlette(
        routes=[
            *JobsApi(emulator).routes(),
            *_oauth_routes(emulator),
            *control_routes(emulator),
            *run_page_routes(emulator),
        ],
        middleware=[
            # Outermost first: every call is counted, then faults fire, then auth is checked.
            Middleware(RecordingMiddleware, stats=emulator.stats),
            Middleware(FaultMiddleware, faults=emulator.faults),
            Middleware(BearerAuthMiddleware, credentials=emulator.credentials),
        ],
        exception_handlers={
            ApiError: handle_api_error,
            HTTPException: handle_http_exception,
            Exception: handle_unexpected,
        },
    )
    # A trailing slash is another path, answered with a JSON 404 rather than a redirect.
    app.router.redirect_slashes = False
    app.state.emulator = emulator
    return app


def emulator_state(app: Starlette) -> Emulator:
    """The emulated workspace behind an app from `create_emulator_app` (for in-process tests)."""
    emulator = app.state.emulator
    if not isinstance(emulator, Emulator):
        raise TypeError("not an app made by create_emulator_app")
    return emulator


def _oauth_routes(emulator: Emulator) -> list[BaseRoute]:
    def base_url(request: Request) -> str:
        return emulator.workspace(origin(request)).base_url

    async def databricks_config(request: Request) -> Response:
        return json_response(host_metadata(base_url(request), emulator.scenario))

    async def authorization_server(request: Request) -> Response:
        return json_response(oidc_metadata(base_url(request)))

    async def token(request: Request) -> Response:
        return await token_endpoint(request, emulator.credentials)

    async def current_user(request: Request) -> Response:
        # The bearer middleware has accepted the token already.
        principal = emulator.credentials.principal(bearer_token(request.scope) or "")
        return json_response(me(principal))

    return [
        Route("/.well-known/databricks-config", databricks_config, methods=["GET"]),
        Route(
            "/oidc/.well-known/oauth-authorization-server", authorization_server, methods=["GET"]
        ),
        Route("/oidc/v1/token", token, methods=["POST"]),
        Route(SCIM_ME_PATH, current_user, methods=["GET"]),
    ]
