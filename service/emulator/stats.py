"""What clients asked of the emulator: calls per endpoint, run-now bodies, bearer tokens."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import msgspec
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.emulator.inputs import bearer_token

_JOBS_PATH = re.compile(r"^/api/2\.[0-9]/jobs/(?P<rest>.+?)/?$")
_OTHER_API_PATH = re.compile(r"^/api/[^/]+/(?P<rest>.+?)/?$")
TOKEN_ENDPOINT = "oidc/token"  # noqa: S105 - an endpoint name, not a secret


def endpoint_name(path: str) -> str | None:
    """The short name stats and fault rules use: `run-now`, `runs/get`, `jobs/get`, ..."""
    if path == "/oidc/v1/token":
        return TOKEN_ENDPOINT
    jobs = _JOBS_PATH.match(path)
    if jobs:
        rest = jobs["rest"]
        return (
            f"jobs/{rest}"
            if rest in ("get", "list", "create", "delete", "reset", "update")
            else rest
        )
    other = _OTHER_API_PATH.match(path)
    return other["rest"] if other else None


class Stats:
    """The record the control API shows at GET /emulator/stats."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.run_now_bodies: list[Any] = []
        self.tokens: list[str] = []
        self.refused = 0  # API calls turned away for their credentials (401/403)
        self.grants: list[dict[str, Any]] = []  # OAuth tokens issued: client, issued, expires

    def reset(self) -> None:
        self.calls.clear()
        self.run_now_bodies.clear()
        self.tokens.clear()
        self.refused = 0
        self.grants.clear()

    def snapshot(self) -> dict[str, Any]:
        return {
            "calls": dict(self.calls),
            "run_now_bodies": list(self.run_now_bodies),
            "tokens": list(self.tokens),
            "refused": self.refused,
            "token_grants": list(self.grants),
        }


class RecordingMiddleware:
    """Counts every call before faults or auth can turn it away, so retries show up too."""

    def __init__(self, app: ASGIApp, *, stats: Stats) -> None:
        self.app = app
        self.stats = stats

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = endpoint_name(scope["path"]) if scope["type"] == "http" else None
        if name is None:
            await self.app(scope, receive, send)
            return
        self.stats.calls[name] += 1
        if name != TOKEN_ENDPOINT:
            token = bearer_token(scope)
            if token is not None:
                self.stats.tokens.append(token)
        if name != "run-now":
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        try:
            self.stats.run_now_bodies.append(msgspec.json.decode(body))
        except msgspec.DecodeError:
            self.stats.run_now_bodies.append(body.decode(errors="replace"))
        await self.app(scope, _replay(body, receive), send)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the buffered body over once, then defers to the real one."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if delivered:
            return await receive()
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
