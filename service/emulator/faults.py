"""Injected faults: error statuses, latency, dropped connections, lost responses, bad bodies."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

import httpx
import msgspec
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.emulator.bodies import Garble, send_garbled, send_huge, trickle
from service.emulator.errors import ApiError, error_response
from service.emulator.stats import endpoint_name

Endpoint = Literal[
    "*",
    "run-now",
    "runs/get",
    "runs/list",
    "runs/cancel",
    "runs/cancel-all",
    "runs/repair",
    "runs/get-output",
    "jobs/get",
    "jobs/list",
    "oidc/token",
    "preview/scim/v2/Me",
]
_NOT_JOBS_API = frozenset({"oidc/token", "preview/scim/v2/Me"})
_ERROR_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "RESOURCE_CONFLICT",
    429: "REQUEST_LIMIT_EXCEEDED",
    500: "INTERNAL_ERROR",
    501: "NOT_IMPLEMENTED",
    502: "BAD_GATEWAY",
    503: "TEMPORARILY_UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


class FaultRule(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, omit_defaults=True
):
    """Applies to the next `count` calls of `endpoint` (`*`: every Jobs API endpoint).

    `after_effect` performs the call for real before failing it: the lost-response case.
    `garble` answers 200 with a body that is not the promised JSON object; `huge_body_bytes`
    answers 200 with a JSON object that long; `slow_body_ms` sends the real answer's body one
    byte at a time, this long apart.
    """

    endpoint: Endpoint = "*"
    status: Annotated[int, msgspec.Meta(ge=400, le=599)] | None = None
    count: Annotated[int, msgspec.Meta(ge=1)] = 1
    retry_after: Annotated[int, msgspec.Meta(ge=0)] | None = None
    latency_ms: Annotated[int, msgspec.Meta(ge=0)] | None = None
    drop: bool = False
    after_effect: bool = False
    error_code: str | None = None
    message: str | None = None
    garble: Garble | None = None
    huge_body_bytes: Annotated[int, msgspec.Meta(ge=1)] | None = None
    slow_body_ms: Annotated[int, msgspec.Meta(ge=1)] | None = None

    def __post_init__(self) -> None:
        answers = [
            self.status is not None,
            self.drop,
            self.garble is not None,
            self.huge_body_bytes is not None,
            self.slow_body_ms is not None,
        ]
        if not any(answers) and self.latency_ms is None:
            raise ValueError(
                "a fault needs a status, drop, garble, huge_body_bytes, slow_body_ms or latency_ms"
            )
        if sum(answers) > 1:
            raise ValueError(
                "a fault answers one way: status, drop, garble, huge_body_bytes or slow_body_ms"
            )
        if self.after_effect and self.status is None and not self.drop:
            raise ValueError("after_effect needs a status or drop")

    def matches(self, endpoint: str) -> bool:
        if self.endpoint == "*":
            return endpoint not in _NOT_JOBS_API
        return self.endpoint == endpoint

    def error(self, endpoint: str) -> ApiError:
        status = self.status or 500
        code = self.error_code or _ERROR_CODES.get(status, "UNKNOWN")
        message = self.message or f"Fault injected by the emulator into {endpoint}."
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else None
        return ApiError(status, code, message, headers=headers)


class FaultBook:
    """The rules waiting to fire, in the order they were added; the first match applies."""

    def __init__(self) -> None:
        self._rules: list[tuple[FaultRule, int]] = []

    def add(self, rule: FaultRule) -> None:
        self._rules.append((rule, rule.count))

    def clear(self) -> None:
        self._rules.clear()

    def pending(self) -> list[dict[str, Any]]:
        return [{**msgspec.to_builtins(rule), "remaining": left} for rule, left in self._rules]

    def take(self, endpoint: str) -> FaultRule | None:
        """The rule for this call, if any; it is used up after `count` calls."""
        for index, (rule, left) in enumerate(self._rules):
            if rule.matches(endpoint):
                if left == 1:
                    del self._rules[index]
                else:
                    self._rules[index] = (rule, left - 1)
                return rule
        return None


class ConnectionDropped(httpx.RemoteProtocolError):
    """The emulator hung up without an answer.

    Over a real server, an informational `100 Continue` goes out first: Hypercorn then closes
    the connection with no response, which clients see as a dropped connection (requests:
    ConnectionError; httpx: RemoteProtocolError). Over httpx's ASGITransport this exception
    reaches the caller itself, and it is an httpx transport error, as a real drop would be.
    """


class FaultMiddleware:
    """Fires the fault rules matching each call; without a rule the call goes through untouched."""

    def __init__(self, app: ASGIApp, *, faults: FaultBook) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = endpoint_name(scope["path"]) if scope["type"] == "http" else None
        rule = self.faults.take(name) if name is not None else None
        if rule is None or name is None:
            await self.app(scope, receive, send)
            return
        if rule.latency_ms:
            await asyncio.sleep(rule.latency_ms / 1000)
        if rule.garble is not None:
            await send_garbled(rule.garble, send)
            return
        if rule.huge_body_bytes is not None:
            await send_huge(rule.huge_body_bytes, send)
            return
        if rule.slow_body_ms is not None:
            await trickle(self.app, scope, receive, send, rule.slow_body_ms / 1000)
            return
        if rule.status is None and not rule.drop:
            await self.app(scope, receive, send)
            return
        if rule.after_effect:
            await self.app(scope, receive, _discard)
        if rule.drop:
            await send({"type": "http.response.start", "status": 100, "headers": []})
            raise ConnectionDropped(f"fault injection dropped the connection of {name}")
        await error_response(rule.error(name))(scope, receive, send)


async def _discard(_message: Message) -> None:
    """Where the real answer of an `after_effect` call goes: nowhere."""
