"""Parameters over real sockets: the catalog's schemas, and mistakes in a trigger body."""

from __future__ import annotations

import pytest

from tests.e2e.servers import stack, stats

pytestmark = pytest.mark.looptime(False)


async def test_parameters_without_the_params_wrapper_are_a_400_with_a_hint():
    async with stack() as s:
        response = await s.api.post("/api/jobs/etl/run", json={"run_date": "2026-11-29"})
        calls = (await stats(s))["calls"]
    assert response.status_code == 400
    assert response.json()["error"].startswith('Parameters go under "params"')
    assert "run-now" not in calls


async def test_every_invalid_parameter_is_named_at_once():
    async with stack() as s:
        response = await s.api.post(
            "/api/jobs/etl/run",
            json={"params": {"run_date": "tomorrow", "dry_run": "no", "env": "staging"}},
        )
        calls = (await stats(s))["calls"]
    assert response.status_code == 400
    assert response.json()["error"] == (
        'The parameters of job "etl" do not fit: run_date must be a date like 2026-11-29; '
        "dry_run must be true or false; env must be one of: dev, prod"
    )
    assert response.json()["fields"] == [
        {
            "field": "run_date",
            "message": "must be a date like 2026-11-29",
            "detail": "Invalid RFC3339 encoded date",
        },
        {
            "field": "dry_run",
            "message": "must be true or false",
            "detail": "Expected `bool`, got `str`",
        },
        {
            "field": "env",
            "message": "must be one of: dev, prod",
            "detail": "Invalid enum value 'staging'",
        },
    ]
    assert "run-now" not in calls


async def test_the_issues_examples_read_as_written():
    async with stack() as s:
        response = await s.api.post(
            "/api/jobs/report/run", json={"params": {"region": "mars", "year": 1999}}
        )
    assert [(f["field"], f["message"]) for f in response.json()["fields"]] == [
        ("region", "must be one of: emea, amer, apac"),
        ("year", "must be a whole number from 2000 to 2100"),
    ]


async def test_the_catalog_tells_no_parameters_from_no_schema():
    async with stack() as s:
        jobs = {j["key"]: j for j in (await s.api.get("/api/jobs")).json()["jobs"]}
        refused = await s.api.post("/api/jobs/dbt/run", json={"params": {"models": "x"}})
    # dbt: a schema that admits only {}; flaky (task_type "job", no schema): null, anything goes.
    assert jobs["dbt"]["params"] == {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {},
        "additionalProperties": False,
    }
    assert jobs["flaky"]["params"] is None
    assert refused.status_code == 400
