"""The run-now request body as the Jobs API states it (shared/jobs-api.md, run-now), on its own.

The emulator's statement of the API, written from the API's documentation and never derived from
the service it checks (service.params): a field the service forgets or misnames then shows up as
a difference between the two, not as the same mistake on both sides.
"""

from __future__ import annotations

from typing import Any

import msgspec

# The legacy parameter fields: everything but job_parameters that runs/get echoes back as
# overriding_parameters (notebook_params, python_params, ...), sorted by name.
LEGACY_PARAMS = (
    "dbt_commands",
    "jar_params",
    "notebook_params",
    "pipeline_params",
    "python_named_params",
    "python_params",
    "spark_submit_params",
    "sql_params",
)
MAX_TOKEN_CHARS = 64  # idempotency_token: a string of at most 64 characters
MAX_PARAM_BYTES = 10_000  # each legacy parameter field: at most 10,000 bytes of JSON


class QueueSetting(msgspec.Struct):
    """`queue`: the per-run override of the job's queue setting (`enabled` is required)."""

    enabled: bool


class RunNowRequest(msgspec.Struct, kw_only=True):
    """The run-now body; fields this emulator does not know are ignored, as the API does."""

    job_id: int | None = None
    job_parameters: dict[str, str] | None = None
    notebook_params: dict[str, str] | None = None
    python_params: list[str] | None = None
    python_named_params: dict[str, str] | None = None
    jar_params: list[str] | None = None
    sql_params: dict[str, str] | None = None
    spark_submit_params: list[str] | None = None
    dbt_commands: list[str] | None = None
    pipeline_params: dict[str, Any] | None = None
    idempotency_token: str | None = None
    queue: QueueSetting | None = None
    only: list[str] | None = None

    def legacy(self) -> dict[str, Any] | None:
        """The legacy parameters that were sent, as runs/get echoes them."""
        given = {name: getattr(self, name) for name in LEGACY_PARAMS}
        sent = {name: value for name, value in given.items() if value is not None}
        return sent or None
