"""Bad parameters: every invalid one reported at once, each named in a machine-readable field."""

from __future__ import annotations

import json
import tomllib

import pytest

from service.errors import InvalidParams
from service.params import params_json_schema, schema_from_toml, validate_params
from tests.factories import make_client, make_settings

SCHEMA = """
run_date = "date"
env = { type = "str", enum = ["dev", "prod"], default = "dev" }
limit = { type = "int", ge = 1, le = 1000, optional = true }
tags = "list[int]?"
"""
JOBS_TOML = '[jobs.etl]\njob_id = 101\ntask_type = "job"\n[jobs.etl.params]\n' + SCHEMA


def invalid(params: object) -> InvalidParams:
    schema = schema_from_toml("etl", tomllib.loads(SCHEMA))
    with pytest.raises(InvalidParams) as caught:
        validate_params("etl", schema, params)
    return caught.value


def test_every_invalid_parameter_is_reported_at_once():
    error = invalid({"env": "staging", "limit": 0, "tags": [1, "2"], "colour": "red"})
    assert [f["field"] for f in error.fields] == ["run_date", "env", "limit", "tags", "colour"]


def test_each_field_has_its_own_message_without_the_others():
    error = invalid({"run_date": "yesterday", "limit": 5000})
    assert error.fields == [
        {"field": "run_date", "message": "Invalid RFC3339 encoded date"},
        {"field": "limit", "message": "Expected `int` <= 1000"},
    ]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "missing required parameter"),
        ({"run_date": "2026-11-29", "colour": 1}, "unknown parameter"),
        ({"run_date": "2026-11-29", "tags": [1, "2"]}, "Expected `int`, got `str` - at `tags[1]`"),
        ({"run_date": None}, "Expected `date`, got `null`"),
    ],
)
def test_a_field_message_says_what_is_wrong_with_it(params, message):
    assert [f["message"] for f in invalid(params).fields] == [message]


def test_the_error_line_lists_every_field():
    error = invalid({"run_date": 5, "env": "staging"})
    assert error.message == (
        'Parameter validation failed for job "etl": Expected `date`, got `int` - at `$.run_date`; '
        "Invalid enum value 'staging' - at `$.env`"
    )


async def test_a_bad_request_names_every_invalid_field_in_the_response(tmp_path, upstream):
    settings = make_settings(JOBS_TOML, tmp_path=tmp_path)
    run_now = upstream.post("/run-now")
    async with make_client(settings, upstream) as client:
        response = await client.post(
            "/api/jobs/etl/run", json={"params": {"run_date": "soon", "env": "staging"}}
        )
    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["plugin"]) == ("BAD_REQUEST", "jobs")
    assert body["fields"] == [
        {"field": "run_date", "message": "Invalid RFC3339 encoded date"},
        {"field": "env", "message": "Invalid enum value 'staging'"},
    ]
    assert not run_now.called


@pytest.mark.parametrize(("sent", "status"), [("5.0", 200), ("5", 200), ("5.5", 400)])
async def test_a_whole_number_with_a_fraction_part_is_an_integer_as_json_schema_says(
    tmp_path, upstream, sent, status
):
    settings = make_settings(JOBS_TOML, tmp_path=tmp_path)
    run_now = upstream.post("/run-now").respond(json={"run_id": 7})
    body = '{"params": {"run_date": "2026-11-29", "limit": ' + sent + "}}"
    async with make_client(settings, upstream) as client:
        response = await client.post("/api/jobs/etl/run", content=body)
    assert response.status_code == status
    if status == 200:
        sent_params = json.loads(run_now.calls.last.request.content)["job_parameters"]
        assert sent_params["limit"] == "5"
    else:
        assert response.json()["fields"] == [
            {"field": "limit", "message": "Expected `int`, got `float`"}
        ]
        assert not run_now.called


async def test_a_member_beside_params_is_400_and_starts_nothing(tmp_path, upstream):
    settings = make_settings(JOBS_TOML, tmp_path=tmp_path)
    run_now = upstream.post("/run-now")
    body = {"params": {"run_date": "2026-11-29"}, "priority": "high"}
    async with make_client(settings, upstream) as client:
        response = await client.post("/api/jobs/etl/run", json=body)
    assert response.status_code == 400
    assert response.json()["error"] == 'The body holds "params" only: remove "priority"'
    assert not run_now.called


async def test_parameters_outside_the_params_wrapper_get_a_hint(tmp_path, upstream):
    settings = make_settings(JOBS_TOML, tmp_path=tmp_path)
    run_now = upstream.post("/run-now")
    async with make_client(settings, upstream) as client:
        response = await client.post("/api/jobs/etl/run", json={"run_date": "2026-11-29"})
    assert response.status_code == 400
    assert response.json() == {
        "error": 'Parameters go under "params": send {"params": {"run_date": ...}}, '
        'not {"run_date": ...}',
        "code": "BAD_REQUEST",
        "plugin": "jobs",
    }
    assert not run_now.called


SCRIPT_TOML = '[jobs.script]\njob_id = 101\ntask_type = "python_script"\n[jobs.script.params]\n'
SCRIPT_TOML += 'args = "list[str]?"\n'
NOTEBOOK_TOML = '[jobs.nb]\njob_id = 101\ntask_type = "notebook"\n[jobs.nb.params]\nnote = "str"\n'


async def test_a_non_ascii_script_argument_is_400_naming_it_and_starts_nothing(tmp_path, upstream):
    settings = make_settings(SCRIPT_TOML, tmp_path=tmp_path)
    run_now = upstream.post("/run-now")
    async with make_client(settings, upstream) as client:
        response = await client.post("/api/jobs/script/run", json={"params": {"args": ["a", "é"]}})
    assert response.status_code == 400
    message = "args[1] must be ASCII: Databricks takes ASCII python_params only"
    assert response.json()["fields"] == [{"field": "args", "message": message}]
    assert not run_now.called


@pytest.mark.parametrize(("length", "status"), [(9_000, 200), (10_001, 400)])
async def test_parameters_over_databricks_10000_bytes_are_400_and_start_nothing(
    tmp_path, upstream, length, status
):
    settings = make_settings(NOTEBOOK_TOML, tmp_path=tmp_path)
    run_now = upstream.post("/run-now").respond(json={"run_id": 7})
    async with make_client(settings, upstream) as client:
        response = await client.post("/api/jobs/nb/run", json={"params": {"note": "x" * length}})
    assert response.status_code == status
    if status == 400:
        assert response.json()["error"] == (
            "The parameters are over the 10,000 bytes Databricks takes in notebook_params"
        )
    assert run_now.called is (status == 200)


def test_a_script_jobs_published_arguments_are_ascii_only():
    schema = params_json_schema(
        schema_from_toml("script", {"args": "list[str]?"}), task_type="python_script"
    )
    assert schema is not None
    assert schema["properties"]["args"]["items"] == {
        "type": "string",
        "pattern": "^[\\x00-\\x7f]*$",
    }
