"""A stand-in for the service at the transport, for the client's own tests: scripted answers
to the calls, and a run's event stream that resumes after Last-Event-ID (and can drop)."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

EPOCH = "a1b2c3d4"


def run_body(run_id: int, state: str, result: str | None = None, done: int = 0) -> dict[str, Any]:
    tasks = [
        {"task_key": f"t{i}", "run_id": run_id + i, "state": {"life_cycle_state": "TERMINATED"}}
        for i in range(done)
    ]
    life = {"life_cycle_state": state, **({"result_state": result} if result else {})}
    return {"run_id": run_id, "state": life, "tasks": tasks, "start_time": 1_000}


def frame(
    seq: int, state: str, result: str | None = None, *, epoch: str = EPOCH, done: int | None = None
) -> bytes:
    """An `event: message` as the service sends it; `done` tasks ended (default: `seq`)."""
    run = run_body(7, state, result, seq if done is None else done)
    data = {"status": state, "result": result, "timestamp": 1_000 + seq, "run": run}
    return f"id: {epoch}-{seq}\nevent: message\ndata: {json.dumps(data)}\n\n".encode()


RUN = [
    frame(1, "PENDING"),
    frame(2, "RUNNING"),
    frame(3, "RUNNING"),
    frame(4, "TERMINATING"),
    frame(5, "TERMINATED", "SUCCESS"),
]


class Frames(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A stream body of frames that, with `drop_after`, breaks off as a cut connection does."""

    def __init__(self, frames: list[bytes], drop_after: int | None = None) -> None:
        self.frames = frames
        self.drop_after = drop_after

    def __iter__(self) -> Iterator[bytes]:
        yield b"retry: 3000\n\n"
        for index, chunk in enumerate(self.frames):
            if index == self.drop_after:
                raise httpx.ReadError("connection reset by peer")
            yield chunk

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self:
            yield chunk


class FakeService:
    """Answers in order from `answers` (a response, or an exception to raise), else 404; the
    events route serves `run` after the request's Last-Event-ID, dropping as `drops` says."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.answers: deque[httpx.Response | Exception] = deque()
        self.run: list[bytes] | None = list(RUN)
        self.drops: deque[int] = (
            deque()
        )  # each connection to the events route: frames before a drop

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path.endswith("/events"):
            return self.events(request.headers.get("last-event-id"))
        if not self.answers:
            return httpx.Response(
                404, json={"error": "no", "code": "RUN_NOT_FOUND", "plugin": "jobs"}
            )
        answer = self.answers.popleft()
        if isinstance(answer, Exception):
            raise answer
        return answer

    def events(self, last_event_id: str | None) -> httpx.Response:
        if self.run is None:
            return error(404, "RUN_NOT_FOUND")
        seen = int(last_event_id.rpartition("-")[2]) if last_event_id else 0
        if seen >= len(self.run):
            return httpx.Response(204)  # the caller has the final event
        drop = self.drops.popleft() if self.drops else None
        return httpx.Response(
            200, headers={"content-type": "text/event-stream"}, stream=Frames(self.run[seen:], drop)
        )

    def last_event_ids(self) -> list[str | None]:
        """The Last-Event-ID each connection to the events route sent."""
        return [
            r.headers.get("last-event-id") for r in self.requests if r.url.path.endswith("/events")
        ]

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)


def error(status: int, code: str, **extra: Any) -> httpx.Response:
    headers = {}
    if "retry_after" in extra:
        headers["Retry-After"] = str(extra.pop("retry_after"))
    return httpx.Response(
        status,
        headers=headers,
        json={"error": f"{code} happened", "code": code, "plugin": "jobs", **extra},
    )


@pytest.fixture
def service() -> FakeService:
    return FakeService()
