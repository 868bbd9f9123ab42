"""Trigger a run over HTTP and follow its event stream, as a web frontend would (httpx here).

    JOBS_SIDECAR_URL=http://127.0.0.1:8000 .venv/bin/python examples/http_client.py [job]

Access modes: against `make run` (open mode, loopback) no credentials are needed. Against a
sidecar in token mode, set JOBS_SIDECAR_KEY to your API key's secret: it is sent as
`Authorization: Bearer <secret>`. Behind the Databricks Apps proxy (apps mode), the proxy adds
who you are; call the app's URL from a browser session instead.

The Idempotency-Key header makes a retried POST return the first run instead of a second one:
each run of this script makes a key of its own (a uuid4), and retries with it. It exits 0 when
the run succeeded, 1 when it did not (or could not be started or followed).
"""

from __future__ import annotations

import json
import os
import sys
import uuid

import httpx

# SUCCESS_WITH_FAILURES: the job run succeeded (its leaf tasks did) though some task failed.
SUCCEEDED = {"SUCCESS", "SUCCESS_WITH_FAILURES"}


def main(base_url: str, job: str, api_key: str | None = None) -> int:
    body = {"params": {"run_date": "2026-11-29"}} if job == "etl" else {}
    headers = {"Idempotency-Key": str(uuid.uuid4())}  # this run's: a retry of it sends it again
    auth = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    with httpx.Client(base_url=base_url, timeout=30, headers=auth) as client:
        started = client.post(f"/api/jobs/{job}/run", json=body, headers=headers)
        if started.status_code != 200:
            print(started.status_code, started.json())  # {"error", "code", "plugin": "jobs"}
            return 1
        run_id = started.json()["runId"]
        retried = client.post(f"/api/jobs/{job}/run", json=body, headers=headers)
        print("run", run_id, "retried as", retried.json()["runId"])
        result = None
        # An EventSource in a browser does the same, resuming by itself with Last-Event-ID.
        with client.stream("GET", f"/api/jobs/{job}/runs/{run_id}/events") as events:
            for line in events.iter_lines():
                if line.startswith("data: "):
                    event = json.loads(line.removeprefix("data: "))
                    if "status" not in event:  # event: error, or event: shutdown
                        print(event)
                        return 1
                    result = event["run"]["state"].get("result_state")
                    print(event["status"], result or "")
    if result not in SUCCEEDED:  # the stream ends after the run's final state
        print(f"run {run_id} failed: {result or 'no result'}")
        return 1
    return 0


if __name__ == "__main__":
    url = os.environ.get("JOBS_SIDECAR_URL", "http://127.0.0.1:8000")
    key = os.environ.get("JOBS_SIDECAR_KEY")
    raise SystemExit(main(url, sys.argv[1] if len(sys.argv) > 1 else "etl", key))
