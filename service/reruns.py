"""Running a run again: a new run with exactly the parameters the old one had, read back.

The parameters come from Databricks (the run's resolved `job_parameters` and its legacy
`overriding_parameters`), not from the job's schema: the new run is started with what the old
one ran with, even if the job's defaults have changed since. It is then a trigger like any
other: once per Idempotency-Key and parameters (service/triggers.py).
"""

from __future__ import annotations

from typing import Any

from service.params import RUN_NOW_PARAM_FIELDS, check_sendable
from service.upstream.wire import RunSnapshot, run_parameters


def rerun_fields(snapshot: RunSnapshot) -> dict[str, Any]:
    """The run-now fields that start a run with the parameters of `snapshot`'s run."""
    given = run_parameters(snapshot.raw)
    fields: dict[str, Any] = {}
    values = {p.name: p.value if p.value is not None else p.default for p in given.job_parameters}
    job_parameters = {name: value for name, value in values.items() if value is not None}
    if job_parameters:
        fields["job_parameters"] = job_parameters
    for name, value in (given.overriding_parameters or {}).items():
        if name in RUN_NOW_PARAM_FIELDS and name != "job_parameters" and value is not None:
            fields[name] = value
    check_sendable(fields)
    return fields
