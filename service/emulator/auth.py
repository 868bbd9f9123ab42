"""Workspace credentials: bearer checks on /api/, whose a token is, the OAuth M2M token
endpoint and discovery."""

from __future__ import annotations

import base64
import binascii
import math
import secrets
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from service.emulator.clock import EmulatorClock
from service.emulator.errors import AuthError, json_response
from service.emulator.inputs import bearer_token
from service.emulator.scenario import Scenario
from service.emulator.scim import Principal, derived_user

if TYPE_CHECKING:
    from service.emulator.stats import Stats

_INVALID_CLIENT = {"error": "invalid_client", "error_description": "Client authentication failed"}


class Credentials:
    """Which bearer tokens the workspace accepts, whose they are, and the OAuth tokens issued."""

    def __init__(self, scenario: Scenario, clock: EmulatorClock, stats: Stats) -> None:
        self._scenario = scenario
        self._clock = clock
        self._stats = stats
        self._issued: dict[str, tuple[int, str]] = {}  # token -> (expiry ms, client id)
        self._users = {user.token: user for user in scenario.users}

    def check(self, token: str | None) -> None:
        """Raise AuthError (401 without a token, else 403) unless `token` may call the API now;
        refusals are counted in the stats."""
        try:
            self._check(token)
        except AuthError:
            self._stats.refused += 1
            raise

    def _check(self, token: str | None) -> None:
        scenario = self._scenario
        if token is None:
            raise AuthError(401)
        if token in scenario.refused_tokens:
            raise AuthError(403)
        if token in scenario.tokens or token in self._users:
            return
        issued = self._issued.get(token)
        if issued is not None:
            if self._clock.now_ms() >= issued[0]:
                raise AuthError(403)
            return
        if not scenario.accept_any_token:
            raise AuthError(403)

    def principal(self, token: str) -> Principal:
        """Whose an accepted token is: a listed user, a service principal, the PATs' owner, or
        the user derived from the token."""
        user = self._users.get(token)
        if user is not None:
            return Principal(kind="user", user_name=user.user_name, display_name=user.display_name)
        issued = self._issued.get(token)
        if issued is not None:
            return Principal(kind="service_principal", user_name=issued[1])
        if token in self._scenario.tokens:
            return Principal(kind="user", user_name=self._scenario.creator_user_name)
        return derived_user(token)

    def issue(self, client_id: str, client_secret: str, scope: str) -> dict[str, object] | None:
        """An access token for a known client (None: authentication failed).

        Why the lifetime is divided by the clock's speed: `token_ttl_s` is scenario time, which
        passes `speed` times faster than the wall clock that clients (and the emulator) count.
        """
        known = any(
            secrets.compare_digest(client.id, client_id)
            and secrets.compare_digest(client.secret, client_secret)
            for client in self._scenario.clients
        )
        if not known:
            return None
        expires_in = max(1, math.floor(self._scenario.token_ttl_s / self._clock.speed))
        token = f"eyJ.emulator.{secrets.token_urlsafe(32)}"
        now_ms = self._clock.now_ms()
        expires_ms = now_ms + expires_in * 1000
        self._issued[token] = (expires_ms, client_id)
        self._stats.grants.append(
            {"client_id": client_id, "issued_ms": now_ms, "expires_ms": expires_ms}
        )
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": expires_in,
            "scope": scope,
        }


class BearerAuthMiddleware:
    """Every /api/ call needs an accepted bearer token; the rest of the site is open."""

    def __init__(self, app: ASGIApp, *, credentials: Credentials) -> None:
        self.app = app
        self.credentials = credentials

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/"):
            refusal = self._refusal(bearer_token(scope))
            if refusal is not None:
                await refusal.response()(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _refusal(self, token: str | None) -> AuthError | None:
        try:
            self.credentials.check(token)
        except AuthError as refused:
            return refused
        return None


async def token_endpoint(request: Request, credentials: Credentials) -> Response:
    """POST /oidc/v1/token: the client-credentials grant, client authenticated by Basic or form."""
    form = {
        key: values[0]
        for key, values in parse_qs((await request.body()).decode(errors="replace")).items()
    }
    client_id, client_secret = _basic_credentials(request) or (
        form.get("client_id", ""),
        form.get("client_secret", ""),
    )
    if form.get("grant_type") != "client_credentials":
        body = {
            "error": "unsupported_grant_type",
            "error_description": "Only grant_type=client_credentials is supported",
        }
        return json_response(body, 400)
    issued = credentials.issue(client_id, client_secret, form.get("scope", "all-apis"))
    if issued is None:
        return json_response(_INVALID_CLIENT, 401)
    return json_response(issued)


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    kind, _, encoded = request.headers.get("authorization", "").partition(" ")
    if kind.lower() != "basic":
        return None
    try:
        client_id, _, client_secret = base64.b64decode(encoded).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    return client_id, client_secret


def host_metadata(base_url: str, scenario: Scenario) -> dict[str, str]:
    """GET /.well-known/databricks-config: where OAuth lives, and which workspace this is."""
    return {
        "oidc_endpoint": f"{base_url}/oidc",
        "workspace_id": str(scenario.workspace_id),
        "account_id": scenario.account_id,
        "cloud": "AWS",
        "host_type": "workspace",
    }


def oidc_metadata(base_url: str) -> dict[str, str]:
    """GET /oidc/.well-known/oauth-authorization-server."""
    return {
        "issuer": f"{base_url}/oidc",
        "authorization_endpoint": f"{base_url}/oidc/v1/authorize",
        "token_endpoint": f"{base_url}/oidc/v1/token",
    }
