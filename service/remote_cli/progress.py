"""A followed run's progress: one live line on a terminal, a plain line per change elsewhere,
or a JSON event per line (`--json`)."""

from __future__ import annotations

import json
import shutil
import time
from typing import Any, Protocol, TextIO

from service.client.events import RunUpdate, Status, state_of, task_counts

# A state in words; a final state's words come from its outcome.
_STATES = {
    "QUEUED": "queued",
    "BLOCKED": "blocked",
    "PENDING": "starting",
    "RUNNING": "running",
    "TERMINATING": "finishing",
    "WAITING_FOR_RETRY": "waiting to retry",
}
_RESULTS = {
    "SUCCESS": "succeeded",
    "SUCCESS_WITH_FAILURES": "succeeded, with failed tasks",
    "FAILED": "failed",
    "CANCELED": "canceled",
    "CANCELLED": "canceled",
    "TIMEDOUT": "timed out",
    "SKIPPED": "skipped",
    "INTERNAL_ERROR": "failed (internal error)",
    "MAXIMUM_CONCURRENT_RUNS_REACHED": "skipped (too many runs at once)",
    "UPSTREAM_FAILED": "not run (an upstream task failed)",
    "UPSTREAM_CANCELED": "not run (an upstream task was canceled)",
}
CLEAR_LINE = "\r\x1b[K"  # back to the start of the line, and erase it


def words(status: str | None, result: str | None, run: dict[str, Any] | None) -> str:
    """`running`, `queued (reason)`, `succeeded`, `failed`, …"""
    if result is not None:
        return _RESULTS.get(result, result.lower().replace("_", " "))
    said = _STATES.get(status or "", (status or "unknown").lower().replace("_", " "))
    reason = queue_reason(run)
    return f"{said} ({reason})" if reason else said


def queue_reason(run: dict[str, Any] | None) -> str | None:
    """Why a run waits: the Jobs API's `status.queue_details`, or its older `queue_reason`."""
    status = (run or {}).get("status")
    details = status.get("queue_details") if isinstance(status, dict) else None
    message = details.get("message") if isinstance(details, dict) else None
    reason = message or state_of(run).get("queue_reason")
    return reason if isinstance(reason, str) and reason else None


def clock(seconds: float) -> str:
    """`0:07`, `12:34`, `1:02:03`."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


def elapsed_s(run: dict[str, Any] | None, now_ms: float) -> float:
    """How long the run has taken: until its end once it has one, else until now."""
    run = run or {}
    start, end = run.get("start_time"), run.get("end_time")
    if not isinstance(start, int) or start <= 0:
        return 0.0
    until = end if isinstance(end, int) and end > 0 else now_ms
    return max(0.0, (until - start) / 1000)


def describe(job: str, run_id: object, status: Status | RunUpdate, now_ms: float) -> str:
    """`etl run 42: running, tasks 1/3, 0:07`"""
    parts = [words(status.status, status.result, status.run)]
    done, total = task_counts(status.run)
    if total:
        parts.append(f"tasks {done}/{total}")
    parts.append(clock(elapsed_s(status.run, now_ms)))
    return f"{job} run {run_id}: " + ", ".join(parts)


def why_it_ended(update: RunUpdate) -> str | None:
    """The run's own message when it did not succeed (which task failed, and how)."""
    if update.succeeded:
        return None
    message = state_of(update.run).get("state_message")
    return " ".join(message.split()) if isinstance(message, str) and message.strip() else None


class Progress(Protocol):
    def started(self, payload: dict[str, Any]) -> None: ...
    def update(self, update: RunUpdate) -> None: ...
    def tick(self) -> None: ...
    def finish(self, last: RunUpdate | None) -> None: ...


class PlainLines:
    """One line per change: for logs, pipes and CI."""

    def __init__(self, out: TextIO, job: str, run_id: int) -> None:
        self._out, self._job, self._run_id = out, job, run_id

    def started(self, payload: dict[str, Any]) -> None:
        return None

    def update(self, update: RunUpdate) -> None:
        self._write(describe(self._job, self._run_id, update, update.timestamp))

    def tick(self) -> None:
        return None

    def finish(self, last: RunUpdate | None) -> None:
        reason = why_it_ended(last) if last is not None else None
        if reason:
            self._write(f"  {reason}")

    def _write(self, line: str) -> None:
        self._out.write(line + "\n")
        self._out.flush()


class LiveLine(PlainLines):
    """One line, redrawn on each change and each second, cut to the terminal's width."""

    def __init__(self, out: TextIO, job: str, run_id: int) -> None:
        super().__init__(out, job, run_id)
        self._last: RunUpdate | None = None

    def update(self, update: RunUpdate) -> None:
        self._last = update
        self.tick()

    def tick(self) -> None:
        if self._last is None:
            return
        line = describe(self._job, self._run_id, self._last, time.time() * 1000)
        width = max(20, shutil.get_terminal_size().columns - 1)
        self._out.write(CLEAR_LINE + (line if len(line) <= width else line[: width - 1] + "…"))
        self._out.flush()

    def finish(self, last: RunUpdate | None) -> None:
        if self._last is not None:
            self._out.write("\n")
        super().finish(last)


class JsonLines:
    """`--json`: the run started, then each change as its event, one JSON object a line."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def started(self, payload: dict[str, Any]) -> None:
        self._write({"event": "run", **payload})

    def update(self, update: RunUpdate) -> None:
        self._write(
            {
                "event": "message",
                "id": update.id,
                "status": update.status,
                "result": update.result,
                "timestamp": update.timestamp,
                "run": update.run,
            }
        )

    def tick(self) -> None:
        return None

    def finish(self, last: RunUpdate | None) -> None:
        return None

    def _write(self, payload: dict[str, Any]) -> None:
        self._out.write(json.dumps(payload, separators=(",", ":")) + "\n")
        self._out.flush()


def progress_for(out: TextIO, job: str, run_id: int, *, as_json: bool, live: bool) -> Progress:
    """JSON lines when asked, a live line on a terminal, else plain lines."""
    if as_json:
        return JsonLines(out)
    if live:
        return LiveLine(out, job, run_id)
    return PlainLines(out, job, run_id)
