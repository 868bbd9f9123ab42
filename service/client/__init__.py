"""A Python client of a running jobs-sidecar, over its HTTP API: `Client` and `AsyncClient`.

    from service.client import Client

    with Client("http://127.0.0.1:8000") as jobs:        # api_key=... in token mode
        final = jobs.run_and_wait("etl", {"run_date": "2026-11-29"})  # RunFailed unless it succeeds
        print(final.status, final.result)

It needs no Databricks credentials (the sidecar holds them), and importing it loads nothing of
the server: httpx, msgspec and the standard library only.
"""

from service.client.aio import AsyncClient
from service.client.errors import (
    BadRequest,
    Conflict,
    FieldError,
    Forbidden,
    JobsError,
    KeyReused,
    NotFound,
    OutcomeUnknown,
    RateLimited,
    Refused,
    RunFailed,
    ServiceFailed,
    Unauthenticated,
    Unreachable,
    WatchFailed,
)
from service.client.events import Job, Repaired, RunUpdate, Status, Triggered
from service.client.sync import Client

__all__ = [
    "AsyncClient",
    "BadRequest",
    "Client",
    "Conflict",
    "FieldError",
    "Forbidden",
    "Job",
    "JobsError",
    "KeyReused",
    "NotFound",
    "OutcomeUnknown",
    "RateLimited",
    "Refused",
    "Repaired",
    "RunFailed",
    "RunUpdate",
    "ServiceFailed",
    "Status",
    "Triggered",
    "Unauthenticated",
    "Unreachable",
    "WatchFailed",
]
