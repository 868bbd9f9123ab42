"""One id check for the config and the routes: positive int64s in ASCII digits."""

from __future__ import annotations

import json

import pytest

from service.basics.errors import ConfigError
from service.settings.config import load_settings
from tests.factories import (
    BASE_ENV,
    make_client,
    make_settings,
    upstream_router,
)

NOT_IDS = [
    "\u0661\u0662",  # Arabic-Indic "12": int() reads it, Databricks would not
    "\u00b2",  # a digit to str.isdigit, not to int()
    "9" * 5000,  # int() refuses strings this long
    str(2**63),
    "0",
    "12abc",
]


@pytest.mark.parametrize("raw", NOT_IDS)
def test_a_configured_job_id_that_is_not_an_id_stops_start_up_with_its_name(raw):
    with pytest.raises(ConfigError, match="job 'etl': job_id must be a positive integer"):
        load_settings({**BASE_ENV, "DATABRICKS_JOB_ETL": raw})


def test_the_largest_int64_is_a_configured_job_id():
    settings = load_settings({**BASE_ENV, "DATABRICKS_JOB_ETL": str(2**63 - 1)})
    assert settings.jobs["etl"].job_id == 2**63 - 1


@pytest.mark.parametrize("raw", NOT_IDS)
async def test_a_run_id_that_is_not_an_id_is_a_400_before_any_upstream_call(raw):
    router = upstream_router()
    async with make_client(make_settings(), router) as client:
        response = await client.get(f"/api/jobs/etl/runs/{raw}")
    assert response.status_code == 400
    assert response.json()["code"] == "BAD_REQUEST"
    assert not router.calls


async def test_absurdly_long_numbers_are_400(client, upstream):
    upstream.get("/runs/list").respond(json={"runs": []})
    assert (await client.get("/api/jobs/etl/runs/" + "9" * 5000)).status_code == 400
    assert (await client.get("/api/jobs/etl/runs?limit=" + "9" * 5000)).status_code == 400
    assert json.loads((await client.get("/api/jobs/etl/status")).text)["run"] is None
