"""Trigger a run over HTTP and follow it to its end with the sidecar's Python client.

    JOBS_SIDECAR_URL=http://127.0.0.1:8000 .venv/bin/python examples/http_client.py [job]

Access modes: against `make run` (open mode, loopback) no credentials are needed. Against a
sidecar in token mode, set JOBS_SIDECAR_KEY to your API key's secret: it is sent as
`Authorization: Bearer <secret>`. Behind the Databricks Apps proxy (apps mode), the proxy adds
who you are; call the app's URL from a browser session instead.

An Idempotency-Key names one run: sent again (here at once, as a retry after a lost answer
would), it returns that run instead of starting a second. The client sends one with every
trigger, and retries with it by itself when it cannot know whether the run started. Exit 1
when the service refuses or the run does not succeed.
"""

from __future__ import annotations

import os
import sys
import uuid

from service.client import Client, JobsError


def main(base_url: str, job: str, api_key: str | None = None) -> int:
    params = {"run_date": "2026-11-29"} if job == "etl" else {}
    key = str(uuid.uuid4())  # a fresh key for a fresh run
    with Client(base_url, api_key=api_key) as jobs:
        try:
            started = jobs.trigger(job, params, idempotency_key=key)
            retried = jobs.trigger(job, params, idempotency_key=key)
            print("run", started.run_id, "retried as", retried.run_id)
            # Resumes by itself after a dropped connection (Last-Event-ID), as EventSource does.
            succeeded = False
            for update in jobs.watch(job, started.run_id):
                print(update.status, update.result or "")
                succeeded = update.succeeded
        except JobsError as exc:  # status, code, message (and fields for a 400)
            print(exc.status, exc.code, exc.message)
            return 1
    return 0 if succeeded else 1


if __name__ == "__main__":
    url = os.environ.get("JOBS_SIDECAR_URL", "http://127.0.0.1:8000")
    key = os.environ.get("JOBS_SIDECAR_KEY")
    raise SystemExit(main(url, sys.argv[1] if len(sys.argv) > 1 else "etl", key))
