"""Trigger a run safely with the Python API: the same idempotency key never starts a second run.

    .venv/bin/python examples/trigger.py [job] [idempotency key]

Every verb returns an ExecutionResult (`ok`, `data`, `error`) rather than raising. The
environment is read as in run_and_wait.py.
"""

from __future__ import annotations

import asyncio
import os
import sys

from service import Jobs, config_path, load_settings


async def main(job: str, key: str) -> int:
    settings = load_settings(os.environ, config_path(None, os.environ))
    async with Jobs.open(settings) as jobs:
        params = {"run_date": "2026-11-29"} if job == "etl" else {}
        first = await jobs(job).run_now(params, idempotency_key=key)
        again = await jobs(job).run_now(params, idempotency_key=key)  # a retry, say
        for result in (first, again):
            if result.error is not None:
                print(f"{result.error.code} ({result.error.status}): {result.error.message}")
                return 1
        if first.data is None or again.data is None:  # never: an ok result carries its data
            return 1
        print("run", first.data["run_id"], "retried as", again.data["run_id"])
        run = await jobs(job).get_run(first.data["run_id"])
        print("state", run.data["state"]["life_cycle_state"] if run.data else run.error)
        # In a web handler acting for its caller (a job with run_as = "user"):
        #     await jobs(job).as_user(request).list_runs(limit=50)
    return 0


if __name__ == "__main__":
    job = sys.argv[1] if len(sys.argv) > 1 else "etl"
    key = sys.argv[2] if len(sys.argv) > 2 else "order-17"
    raise SystemExit(asyncio.run(main(job, key)))
