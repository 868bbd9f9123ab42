"""GET /api/jobs: a job that takes no parameters looks unlike a job without a schema."""

from __future__ import annotations

from tests.factories import make_client, make_settings

JOBS = """
[jobs.models]
job_id = 1
task_type = "dbt"
[jobs.loose]
job_id = 2
task_type = "notebook"
[jobs.raw]
job_id = 3
"""


async def test_a_dbt_job_has_a_schema_that_admits_only_an_empty_object(tmp_path, upstream):
    async with make_client(make_settings(JOBS, tmp_path=tmp_path), upstream) as client:
        jobs = {j["key"]: j for j in (await client.get("/api/jobs")).json()["jobs"]}
    assert jobs["models"]["params"] == {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {},
        "additionalProperties": False,
    }


async def test_a_job_without_a_schema_has_params_null(tmp_path, upstream):
    async with make_client(make_settings(JOBS, tmp_path=tmp_path), upstream) as client:
        jobs = {j["key"]: j for j in (await client.get("/api/jobs")).json()["jobs"]}
    assert jobs["loose"]["params"] is None
    assert jobs["raw"]["params"] is None
