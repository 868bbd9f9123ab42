"""`Client`: the blocking client of a running jobs-sidecar, on `httpx.Client`."""

from __future__ import annotations

import time
from collections.abc import Generator, Mapping, Sequence
from typing import Any

import httpx

from service.client import calls
from service.client.base import ClientOptions
from service.client.errors import JobsError, RunFailed, ServiceFailed, error_from
from service.client.events import Job, Repaired, RunUpdate, Status, Triggered
from service.client.stream import Follow


class Client:
    """Calls a jobs-sidecar over HTTP: `Client("http://127.0.0.1:8000", api_key=...)`.

    `api_key` goes as `Authorization: Bearer` (token mode). `timeout` bounds each request (a
    watch waits up to `stream_timeout` between two lines; the service sends a heartbeat every
    15 s). Triggers, repairs and reruns always carry an Idempotency-Key and are sent again with
    it when their outcome is unknown (`retries` times, backing off from `retry_delay`). Errors
    are `JobsError`s (see `service.client.errors`). Use it as a context manager, or `close()`.
    """

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        stream_timeout: float = 60.0,
        retries: int = calls.MAX_RETRIES,
        retry_delay: float = calls.FIRST_DELAY_S,
        reconnect_for: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.options = ClientOptions(
            timeout=timeout,
            stream_timeout=stream_timeout,
            retries=retries,
            retry_delay=retry_delay,
            reconnect_for=reconnect_for,
        )
        self._http = httpx.Client(
            transport=transport, **self.options.httpx_options(base_url, api_key)
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def jobs(self) -> list[Job]:
        """Every job the caller may view, with its parameter schema and whether they may run it."""
        return calls.jobs_of(self._call(calls.Call("GET", "/api/jobs")))

    def trigger(
        self, job: str, params: Mapping[str, Any] | None = None, idempotency_key: str | None = None
    ) -> Triggered:
        """Start a run (once per key: the same key again answers with the same run)."""
        key = idempotency_key or calls.new_key()
        return calls.triggered(self._write(calls.trigger_call(job, params), key), key)

    def watch(
        self, job: str, run_id: int, last_event_id: str | None = None
    ) -> Generator[RunUpdate, None, None]:
        """Each change of the run until it ends, the final one included; a dropped connection
        is resumed after the last event (Last-Event-ID), so no change is missed or repeated.
        `last_event_id` resumes an earlier watch. An `event: error` raises `WatchFailed`."""
        follow = Follow(last_event_id, give_up_s=self.options.reconnect_for, clock=time.monotonic)
        path = calls.job_path(job, "runs", run_id, "events")
        while not follow.finished:
            try:
                with self._http.stream(
                    "GET", path, headers=follow.headers(), timeout=self.options.stream_timeouts()
                ) as response:
                    if response.status_code == 204:
                        return  # the caller has the final event already
                    if response.status_code >= 400:
                        raise error_from(response.status_code, response.read(), response.headers)
                    if "text/event-stream" not in response.headers.get("content-type", ""):
                        raise JobsError(
                            response.status_code,
                            "NOT_A_STREAM",
                            "The answer is not an event stream: is this a jobs-sidecar?",
                        )
                    follow.opened()
                    for line in response.iter_lines():
                        update = follow.line(line)
                        if update is not None:
                            yield update
                        if follow.finished:
                            return
                follow.dropped()
            except ServiceFailed as exc:
                follow.dropped(retry_after=exc.retry_after)
            except httpx.TransportError:
                follow.dropped()
            time.sleep(follow.delay())

    def run_and_wait(
        self, job: str, params: Mapping[str, Any] | None = None, idempotency_key: str | None = None
    ) -> Status:
        """Trigger a run and follow it to its end: its final status; `RunFailed` unless it
        succeeded."""
        run_id = self.trigger(job, params, idempotency_key).run_id
        final: RunUpdate | None = None
        for final in self.watch(job, run_id):  # noqa: B007 - the last one is the answer
            pass
        if final is None:
            return self.status(job)
        if not final.succeeded:
            raise RunFailed(run_id, final.result, final.run)
        return final.as_status()

    def status(self, job: str) -> Status:
        """The job's latest run (`status` None when it never ran)."""
        return calls.status_of(self._call(calls.Call("GET", calls.job_path(job, "status"))))

    def runs(
        self, job: str | None = None, *, limit: int = 20, active: bool | None = None
    ) -> list[dict[str, Any]]:
        """Runs newest first, each with `jobKey` and `result`: the job's, or every job's."""
        return calls.runs_of(self._call(calls.runs_call(job, limit, active)), job, active)

    def run(self, job: str, run_id: int) -> dict[str, Any]:
        """The run, every field Databricks sent."""
        return calls.object_of(self._call(calls.Call("GET", calls.job_path(job, "runs", run_id))))

    def output(self, job: str, run_id: int) -> dict[str, Any]:
        """A one-task run's output, or `{"tasks": [{task_key, run_id, output}]}`."""
        path = calls.job_path(job, "runs", run_id, "output")
        return calls.object_of(self._call(calls.Call("GET", path)))

    def cancel(self, job: str, run_id: int) -> None:
        """Cancel the run (harmless when it has ended)."""
        self._call(calls.Call("DELETE", calls.job_path(job, "runs", run_id)))

    def cancel_all(self, job: str) -> None:
        """Cancel every active run of the job."""
        self._call(calls.Call("DELETE", calls.job_path(job, "runs")))

    def repair(
        self,
        job: str,
        run_id: int,
        tasks: Sequence[str] | None = None,
        *,
        rerun_dependents: bool = False,
        params: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Repaired:
        """Rerun the run's failed tasks (or `tasks`); once per key."""
        key = idempotency_key or calls.new_key()
        call = calls.repair_call(job, run_id, tasks, rerun_dependents, params)
        return calls.repaired(self._write(call, key), key)

    def rerun(self, job: str, run_id: int, idempotency_key: str | None = None) -> Triggered:
        """Start a new run with that run's parameters; once per key."""
        key = idempotency_key or calls.new_key()
        return calls.triggered(self._write(calls.rerun_call(job, run_id), key), key)

    def _call(self, call: calls.Call) -> bytes:
        try:
            response = self._http.request(
                call.method, call.path, params=call.query, content=call.content()
            )
        except httpx.TransportError as exc:
            raise calls.lost(exc) from None
        if response.is_error:
            raise error_from(response.status_code, response.content, response.headers)
        return response.content

    def _write(self, call: calls.Call, key: str) -> bytes:
        retries = calls.WriteRetries(
            key, retries=self.options.retries, first_delay_s=self.options.retry_delay
        )
        headers = {"Idempotency-Key": key, "Content-Type": "application/json"}
        while True:
            error: JobsError
            try:
                response = self._http.request(
                    call.method, call.path, content=call.content(), headers=headers
                )
            except httpx.TransportError as exc:
                error = calls.lost(exc, key)
            else:
                if not response.is_error:
                    return response.content
                error = error_from(response.status_code, response.content, response.headers)
            wait = retries.wait(error)
            if wait is None:
                raise retries.failure(error) from None
            time.sleep(wait)
