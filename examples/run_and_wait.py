"""Trigger a job and follow it to its end with the Python API; exit 1 if the run failed.

    .venv/bin/python examples/run_and_wait.py [job] [run_date]

The workspace comes from the environment as for the service (DATABRICKS_HOST, DATABRICKS_TOKEN
or DATABRICKS_CLIENT_ID/DATABRICKS_CLIENT_SECRET), the jobs from $JOBS_CONFIG. Against
`make run`'s emulator: DATABRICKS_HOST=http://127.0.0.1:8001 DATABRICKS_TOKEN=dapi-local-dev
JOBS_CONFIG=config/demo.toml.

No access mode applies: the Python API serves no one, and the program, which holds the workspace
credentials, is its own caller ("python program", whose idempotency keys are its own).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping

from service import Jobs, RunFailed, SidecarError, config_path, load_settings


async def main(job: str, params: Mapping[str, object]) -> int:
    settings = load_settings(os.environ, config_path(None, os.environ))
    async with Jobs.open(settings) as jobs:
        try:
            async for status in jobs(job).run_and_wait(dict(params)):
                print(status.status, status.run["run_page_url"])
        except RunFailed as failed:
            print(f"run {failed.run_id} failed: {failed.result_state or failed.message}")
            return 1
        except SidecarError as error:  # bad parameters, Databricks unavailable, wait timeout
            print(f"{error.code}: {error.message} (run {error.run_id})")
            return 2
    return 0


if __name__ == "__main__":
    job = sys.argv[1] if len(sys.argv) > 1 else "etl"
    params = {"run_date": sys.argv[2]} if len(sys.argv) > 2 else {}
    raise SystemExit(asyncio.run(main(job, params)))
