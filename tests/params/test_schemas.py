"""Parameters: TOML schemas, validation of request params, and their run-now fields."""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, date, datetime

import msgspec
import pytest

from service.basics.errors import ConfigError, InvalidParams, InvalidRequest
from service.params.schemas import (
    MAX_UNSCHEMATISED_KEYS,
    RUN_NOW_PARAM_FIELDS,
    TASK_TYPES,
    params_json_schema,
    run_now_fields,
    schema_from_toml,
    validate_params,
)
from tests.factories import make_client, make_settings

ALLOWED = (
    "dbt_commands, jar_params, job_parameters, notebook_params, pipeline_params, "
    "python_named_params, python_params, spark_submit_params, sql_params"
)


def schema(toml: str) -> type[msgspec.Struct]:
    """The schema of job "etl" from the body of its `[jobs.etl.params]` table."""
    return schema_from_toml("etl", tomllib.loads(toml))


def validate(toml: str, params: object) -> dict:
    return validate_params("etl", schema(toml), params)


def rejection(toml: str, params: object) -> str:
    with pytest.raises(InvalidRequest) as excinfo:
        validate(toml, params)
    return excinfo.value.message


def config_error(toml: str) -> str:
    with pytest.raises(ConfigError) as excinfo:
        schema(toml)
    return excinfo.value.message


def misfit(toml: str, params: object) -> dict[str, str]:
    """The one field error of a request whose parameters misfit in one place."""
    with pytest.raises(InvalidParams) as excinfo:
        validate(toml, params)
    (field,) = excinfo.value.fields
    return field


def mapping_error(task_type: str | None, params: dict) -> str:
    with pytest.raises(InvalidRequest) as excinfo:
        run_now_fields("etl", task_type, params)
    return excinfo.value.message


# --- the TOML grammar ----------------------------------------------------------------------------


def test_task_types_are_the_jobs_api_task_kinds():
    kinds = {"notebook", "python_wheel", "python_script", "spark_jar", "sql", "dbt", "job"}
    assert kinds == TASK_TYPES


@pytest.mark.parametrize(
    ("type_name", "sent", "validated"),
    [
        ("str", "emea", "emea"),
        ("int", 5, 5),
        ("float", 1.5, 1.5),
        ("bool", True, True),
        ("date", "2024-03-01", date(2024, 3, 1)),
        ("datetime", "2024-03-01T10:00:00Z", datetime(2024, 3, 1, 10, tzinfo=UTC)),
        ("list[str]", ["a", "b"], ["a", "b"]),
        ("list[int]", [1, 2], [1, 2]),
    ],
)
def test_each_type_accepts_its_json_value_and_keeps_its_python_type(type_name, sent, validated):
    result = validate(f'p = "{type_name}"', {"p": sent})
    assert result == {"p": validated}
    assert type(result["p"]) is type(validated)


@pytest.mark.parametrize(
    ("type_name", "sent", "message", "detail"),
    [
        ("str", 5, "must be text", "Expected `str`, got `int`"),
        ("int", 1.5, "must be a whole number", "Expected `int`, got `float`"),
        ("int", True, "must be a whole number", "Expected `int`, got `bool`"),
        ("int", "5", "must be a whole number", "Expected `int`, got `str`"),  # never coerced
        ("float", "1.5", "must be a number", "Expected `float`, got `str`"),
        ("bool", 1, "must be true or false", "Expected `bool`, got `int`"),
        ("bool", "true", "must be true or false", "Expected `bool`, got `str`"),
        ("date", "yesterday", "must be a date like 2026-11-29", "Invalid RFC3339 encoded date"),
        ("date", 20240301, "must be a date like 2026-11-29", "Expected `date`, got `int`"),
        (
            "datetime",
            "2024-03-01",
            "must be a date and time like 2026-11-29T08:00:00Z",
            "Invalid RFC3339 encoded datetime",
        ),
        (
            "datetime",
            1709287200,
            "must be a date and time like 2026-11-29T08:00:00Z",
            "Expected `datetime`, got `int`",
        ),
        ("list[str]", "a,b", "must be a list of text values", "Expected `array`, got `str`"),
        (
            "list[int]",
            [1, "2"],
            "must be a list of whole numbers",
            "Expected `int`, got `str` - at `p[1]`",
        ),
    ],
)
def test_each_type_says_what_it_wants_for_a_value_of_another_type(type_name, sent, message, detail):
    assert misfit(f'p = "{type_name}"', {"p": sent}) == {
        "field": "p",
        "message": message,
        "detail": detail,
    }


def test_the_error_line_names_the_job_and_each_field_with_what_it_wants():
    assert rejection('startDate = "date"\nregion = "str"', {"startDate": 5, "region": 5}) == (
        'The parameters of job "etl" do not fit: startDate must be a date like 2026-11-29; '
        "region must be text"
    )


def test_float_accepts_a_json_integer():
    assert validate('ratio = "float"', {"ratio": 2}) == {"ratio": 2.0}


def test_date_is_parsed_from_an_iso_string():
    assert validate('startDate = "date"', {"startDate": "2024-03-01"}) == {
        "startDate": date(2024, 3, 1)
    }


def test_date_object_from_python_callers_is_accepted():
    assert validate('startDate = "date"', {"startDate": date(2024, 3, 1)}) == {
        "startDate": date(2024, 3, 1)
    }


def test_required_param_must_be_given():
    assert misfit('startDate = "date"', {}) == {
        "field": "startDate",
        "message": "is required: a date like 2026-11-29",
        "detail": "Object missing required field `startDate`",
    }


def test_unknown_field_is_rejected_naming_the_ones_the_job_takes():
    assert misfit('startDate = "date?"\nlimit = "int?"', {"x": 1}) == {
        "field": "x",
        "message": "is not a parameter of this job (it takes: startDate, limit)",
        "detail": "Object contains unknown field `x`",
    }


def test_trailing_question_mark_makes_a_param_optional_and_omitted():
    assert validate('limit = "int?"', {}) == {}


def test_optional_param_is_kept_when_given():
    assert validate('limit = "int?"', {"limit": 3}) == {"limit": 3}


def test_optional_enum_param_can_be_left_out():
    assert validate('env = { type = "str", enum = ["dev"], optional = true }', {}) == {}


def test_optional_true_in_a_table_makes_a_param_optional():
    assert validate('limit = { type = "int", optional = true }', {}) == {}


def test_null_for_an_optional_param_is_rejected():
    assert misfit('limit = "int?"', {"limit": None}) == {
        "field": "limit",
        "message": "must be a whole number",
        "detail": "Expected `int`, got `null`",
    }


def test_default_fills_a_missing_param():
    assert validate('env = { type = "str", default = "dev" }', {}) == {"env": "dev"}


def test_given_value_overrides_the_default():
    assert validate('env = { type = "str", default = "dev" }', {"env": "prod"}) == {"env": "prod"}


def test_list_default_fills_a_missing_param():
    assert validate('tags = { type = "list[str]", default = ["a"] }', {}) == {"tags": ["a"]}


def test_toml_date_default_fills_a_missing_param():
    assert validate('day = { type = "date", default = 2024-03-01 }', {}) == {
        "day": date(2024, 3, 1)
    }


CONSTRAINTS = [
    (
        '{ type = "str", pattern = "^[a-z]+$" }',
        "abc",
        "ABC",
        "must be text, matching ^[a-z]+$",
        "Expected `str` matching regex '^[a-z]+$'",
    ),
    ('{ type = "str", min_length = 2 }', "ab", "a", "must be text of at least 2 characters",
     "Expected `str` of length >= 2"),
    ('{ type = "str", max_length = 1 }', "a", "ab", "must be text of at most 1 character",
     "Expected `str` of length <= 1"),
    ('{ type = "str", min_length = 2, max_length = 4 }', "abc", "abcde",
     "must be text of 2 to 4 characters", "Expected `str` of length <= 4"),
    ('{ type = "list[int]", min_length = 1 }', [1], [], "must be a list of whole numbers of at "
     "least 1 item", "Expected `array` of length >= 1"),
    ('{ type = "list[str]", max_length = 1 }', ["a"], ["a", "b"], "must be a list of text "
     "values of at most 1 item", "Expected `array` of length <= 1"),
    ('{ type = "int", ge = 2000 }', 2026, 1999, "must be a whole number, at least 2000",
     "Expected `int` >= 2000"),
    ('{ type = "int", le = 10 }', 10, 11, "must be a whole number, at most 10",
     "Expected `int` <= 10"),
    ('{ type = "int", ge = 2000, le = 2100 }', 2100, 2101,
     "must be a whole number from 2000 to 2100", "Expected `int` <= 2100"),
    ('{ type = "float", ge = 0.5 }', 0.5, 0.25, "must be a number, at least 0.5",
     "Expected `float` >= 0.5"),
    ('{ type = "float", ge = 0, le = 1.5 }', 1.5, 2, "must be a number from 0 to 1.5",
     "Expected `float` <= 1.5"),
    ('{ type = "str", enum = ["emea", "amer"] }', "amer", "apac", "must be one of: emea, amer",
     "Invalid enum value 'apac'"),
    ('{ type = "int", enum = [1, 2] }', 2, 3, "must be one of: 1, 2", "Invalid enum value 3"),
]  # fmt: skip


@pytest.mark.parametrize(("spec", "inside", "outside", "message", "detail"), CONSTRAINTS)
def test_constraint_accepts_a_value_within_it(spec, inside, outside, message, detail):
    assert validate(f"p = {spec}", {"p": inside}) == {"p": inside}


@pytest.mark.parametrize(("spec", "inside", "outside", "message", "detail"), CONSTRAINTS)
def test_constraint_says_what_it_wants_of_a_value_outside_it(
    spec, inside, outside, message, detail
):
    assert misfit(f"p = {spec}", {"p": outside}) == {
        "field": "p",
        "message": message,
        "detail": detail,
    }


# --- what validate_params accepts ----------------------------------------------------------------


@pytest.mark.parametrize("with_schema", [True, False], ids=["schema", "no-schema"])
@pytest.mark.parametrize("params", [None, [], "x", 5])
def test_params_that_are_not_an_object_are_rejected(params, with_schema):
    job_schema = schema('p = "int?"') if with_schema else None
    with pytest.raises(InvalidRequest, match=r"^params must be a plain object$"):
        validate_params("etl", job_schema, params)


def test_struct_instance_is_accepted_with_unset_fields_omitted():
    job_schema = schema('startDate = "date"\nlimit = "int?"')
    instance = job_schema(startDate=date(2024, 3, 1))
    assert validate_params("etl", job_schema, instance) == {"startDate": date(2024, 3, 1)}


def test_struct_instance_is_checked_against_its_constraints():
    job_schema = schema('limit = { type = "int", ge = 1 }')
    with pytest.raises(InvalidRequest, match=r"limit must be a whole number, at least 1$"):
        validate_params("etl", job_schema, job_schema(limit=0))


def test_instance_of_another_struct_is_rejected():
    other = schema_from_toml("other", {"limit": "int"})
    with pytest.raises(InvalidRequest, match=r"^params must be a plain object$"):
        validate_params("etl", schema('limit = "int"'), other(limit=1))


def test_unschematised_params_are_returned_as_given():
    params = {"startDate": "2024-03-01", "nested": {"a": [1]}}
    assert validate_params("etl", None, params) == params


def test_fifty_unschematised_params_are_accepted():
    params = {f"p{i}": i for i in range(MAX_UNSCHEMATISED_KEYS)}
    assert validate_params("etl", None, params) == params


def test_more_than_fifty_unschematised_params_are_rejected():
    params = {f"p{i}": i for i in range(MAX_UNSCHEMATISED_KEYS + 1)}
    with pytest.raises(InvalidRequest, match=r"^Too many parameters$"):
        validate_params("etl", None, params)


# --- configuration errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            'startDate = "strng"',
            'param "startDate": unknown type "strng" (expected one of: '
            "str, int, float, bool, date, datetime, list[str], list[int])",
        ),
        (
            'n = "int??"',
            'param "n": unknown type "int?" (expected one of: '
            "str, int, float, bool, date, datetime, list[str], list[int])",
        ),
        (
            "n = { ge = 1 }",
            'param "n": "type" must be one of: '
            "str, int, float, bool, date, datetime, list[str], list[int]",
        ),
        ("n = 5", 'param "n": expected a type name or a table, got int'),
        (
            'n = { type = "int", max = 5 }',
            'param "n": unknown option "max" (expected: type, default, optional, description, '
            "enum, pattern, min_length, max_length, ge, le)",
        ),
        (
            'n = { type = "int", pattern = "^1" }',
            'param "n": "pattern" does not apply to type "int"',
        ),
        ('d = { type = "date", ge = 1 }', 'param "d": "ge" does not apply to type "date"'),
        ('b = { type = "bool", enum = [true] }', 'param "b": "enum" does not apply to type "bool"'),
        (
            's = { type = "str", enum = ["a", 1] }',
            'param "s": enum must be a non-empty list of str values',
        ),
        (
            'n = { type = "int", enum = [true] }',
            'param "n": enum must be a non-empty list of int values',
        ),
        (
            's = { type = "str", enum = [] }',
            'param "s": enum must be a non-empty list of str values',
        ),
        (
            's = { type = "str", enum = ["a"], pattern = "a" }',
            'param "s": "enum" cannot be combined with "pattern"',
        ),
        (
            'n = { type = "int", ge = 1, default = 0 }',
            'param "n": default 0 does not fit: Expected `int` >= 1',
        ),
        (
            'n = { type = "int", default = "5" }',
            "param \"n\": default '5' does not fit: Expected `int`, got `str`",
        ),
        (
            's = { type = "str", enum = ["a"], default = "b" }',
            "param \"s\": default 'b' does not fit: Invalid enum value 'b'",
        ),
        ('n = { type = "int", optional = "yes" }', 'param "n": "optional" must be true or false'),
        (
            's = { type = "str", pattern = "(" }',
            'param "s": bad constraint: missing ), unterminated subpattern at position 0',
        ),
        (
            's = { type = "str", min_length = -1 }',
            'param "s": bad constraint: `min_length` must be >= 0, got -1',
        ),
        (
            'n = { type = "int", ge = "1" }',
            'param "n": bad constraint: `ge` must be an int or float, got str',
        ),
        ('n = { type = "int", ge = 5, le = 1 }', 'param "n": ge (5) is greater than le (1)'),
        (
            '"start-date" = "date"',
            'param "start-date": the name must be an identifier not starting with __',
        ),
        ('"1st" = "date"', 'param "1st": the name must be an identifier not starting with __'),
        (
            '__init__ = "int"',
            'param "__init__": the name must be an identifier not starting with __',
        ),
    ],
)
def test_bad_schema_is_a_config_error_naming_job_and_param(toml, message):
    assert config_error(toml) == f'job "etl": {message}'


def test_params_that_are_not_a_table_are_a_config_error():
    with pytest.raises(ConfigError) as excinfo:
        schema_from_toml("etl", ["startDate"])
    assert excinfo.value.message == 'job "etl": params must be a table of field = type'


def test_schema_instances_are_frozen():
    job_schema = schema('limit = "int"')
    instance = job_schema(limit=1)
    with pytest.raises(AttributeError):
        instance.limit = 2


# --- run-now fields ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("task_type", "field"),
    [
        ("notebook", "notebook_params"),
        ("python_wheel", "python_named_params"),
        ("sql", "sql_params"),
        ("job", "job_parameters"),
    ],
)
def test_named_params_go_to_the_task_types_field(task_type, field):
    assert run_now_fields("etl", task_type, {"region": "emea"}) == {field: {"region": "emea"}}


def test_sql_params_render_booleans_lowercase():
    assert run_now_fields("etl", "sql", {"on": True, "off": False}) == {
        "sql_params": {"on": "true", "off": "false"}
    }


def test_sql_params_render_nested_values_as_json():
    fields = run_now_fields("etl", "sql", {"ids": [1, 2], "filter": {"a": "b"}})
    assert fields == {"sql_params": {"ids": "[1,2]", "filter": '{"a":"b"}'}}


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        ("emea", "emea"),
        (1, "1"),
        (1.5, "1.5"),
        (2.0, "2.0"),
        (date(2024, 3, 1), "2024-03-01"),
        (datetime(2024, 3, 1, 10, tzinfo=UTC), "2024-03-01T10:00:00+00:00"),
        ([date(2024, 3, 1)], '["2024-03-01"]'),
        (["a", None], '["a",null]'),
    ],
)
def test_job_parameters_render_values_as_strings(value, rendered):
    assert run_now_fields("etl", "job", {"p": value}) == {"job_parameters": {"p": rendered}}


def test_none_values_are_left_out_of_named_params():
    assert run_now_fields("etl", "notebook", {"a": "x", "b": None}) == {
        "notebook_params": {"a": "x"}
    }


def test_named_params_that_are_all_none_send_nothing():
    assert run_now_fields("etl", "notebook", {"b": None}) == {}


def test_value_that_cannot_be_rendered_is_rejected():
    assert mapping_error("job", {"p": object()}) == 'param "p": cannot send a object value'


def test_validated_date_reaches_job_parameters_as_iso_string():
    validated = validate('startDate = "date"', {"startDate": "2024-03-01"})
    assert run_now_fields("etl", "job", validated) == {
        "job_parameters": {"startDate": "2024-03-01"}
    }


@pytest.mark.parametrize("task_type", [*sorted(TASK_TYPES), None])
def test_empty_params_send_no_fields(task_type):
    assert run_now_fields("etl", task_type, {}) == {}


LIST_TASKS = pytest.mark.parametrize(
    ("task_type", "field"), [("python_script", "python_params"), ("spark_jar", "jar_params")]
)


@LIST_TASKS
def test_args_become_positional_string_params(task_type, field):
    fields = run_now_fields("etl", task_type, {"args": ["--day", date(2024, 3, 1), 3, True]})
    assert fields == {field: ["--day", "2024-03-01", "3", "true"]}


@LIST_TASKS
@pytest.mark.parametrize("args", [None, []], ids=["null", "empty"])
def test_null_or_empty_args_send_nothing(task_type, field, args):
    assert run_now_fields("etl", task_type, {"args": args}) == {}


@LIST_TASKS
@pytest.mark.parametrize(
    ("args", "type_name"), [("--day 2024-03-01", "str"), ({"day": 1}, "dict"), (5, "int")]
)
def test_args_that_are_not_an_array_are_rejected(task_type, field, args, type_name):
    assert mapping_error(task_type, {"args": args}) == f'"args" must be an array, got {type_name}'


@LIST_TASKS
def test_keys_other_than_args_are_rejected(task_type, field):
    message = mapping_error(task_type, {"args": [], "day": "2024-03-01"})
    assert message == f'{task_type} tasks take only "args", not "day"'


@LIST_TASKS
def test_null_arg_is_rejected(task_type, field):
    assert mapping_error(task_type, {"args": ["a", None]}) == "args[1] must not be null"


def test_dbt_rejects_any_param():
    assert mapping_error("dbt", {"x": 1}) == "dbt tasks do not accept parameters"


@pytest.mark.parametrize("field", sorted(RUN_NOW_PARAM_FIELDS))
def test_without_task_type_run_now_param_fields_pass_through(field):
    assert run_now_fields("etl", None, {field: {"a": 1}}) == {field: {"a": 1}}


def test_without_task_type_none_fields_are_left_out():
    assert run_now_fields("etl", None, {"notebook_params": None}) == {}


@pytest.mark.parametrize("field", ["job_id", "idempotency_token", "queue", "startDate"])
def test_without_task_type_other_fields_are_rejected(field):
    assert mapping_error(None, {field: 1}) == (
        f'"{field}" is not a run parameter (allowed: {ALLOWED})'
    )


def test_unknown_task_type_is_a_config_error():
    with pytest.raises(ConfigError, match=r'^job "etl": unknown task_type "spark_python"$'):
        run_now_fields("etl", "spark_python", {})


# --- JSON Schema ---------------------------------------------------------------------------------


def test_json_schema_of_no_schema_is_none():
    assert params_json_schema(None) is None


def test_json_schema_describes_each_param():
    job_schema = schema(
        'startDate = { type = "date", description = "First day" }\n'
        'limit = { type = "int", ge = 1, optional = true }\n'
        'env = { type = "str", enum = ["dev", "prod"], default = "dev" }\n'
    )
    assert params_json_schema(job_schema) == {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "EtlParams",
        "type": "object",
        "properties": {
            "startDate": {"type": "string", "format": "date", "description": "First day"},
            "limit": {"type": "integer", "minimum": 1},
            "env": {"enum": ["dev", "prod"], "default": "dev"},
        },
        "required": ["startDate"],
        "additionalProperties": False,
    }


class Window(msgspec.Struct):
    start: date


class Report(msgspec.Struct):
    window: Window


def test_json_schema_keeps_nested_definitions_resolvable_at_its_root():
    document = params_json_schema(Report)
    assert document is not None
    assert document["properties"]["window"] == {"$ref": "#/$defs/Window"}
    assert document["$defs"]["Window"]["properties"] == {
        "start": {"type": "string", "format": "date"}
    }


def test_json_schema_is_plain_json():
    document = params_json_schema(schema('startDate = "date"'))
    assert json.loads(json.dumps(document)) == document
    assert "$ref" not in json.dumps(document)


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
        {
            "field": "run_date",
            "message": "must be a date like 2026-11-29",
            "detail": "Invalid RFC3339 encoded date",
        },
        {
            "field": "limit",
            "message": "must be a whole number from 1 to 1000",
            "detail": "Expected `int` <= 1000",
        },
    ]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "is required: a date like 2026-11-29"),
        (
            {"run_date": "2026-11-29", "colour": 1},
            "is not a parameter of this job (it takes: run_date, env, limit, tags)",
        ),
        ({"run_date": "2026-11-29", "tags": [1, "2"]}, "must be a list of whole numbers"),
        ({"run_date": None}, "must be a date like 2026-11-29"),
    ],
)
def test_a_field_message_says_what_is_wanted_of_it(params, message):
    assert [f["message"] for f in invalid(params).fields] == [message]


def test_the_error_line_lists_every_field():
    error = invalid({"run_date": 5, "env": "staging"})
    assert error.message == (
        'The parameters of job "etl" do not fit: run_date must be a date like 2026-11-29; '
        "env must be one of: dev, prod"
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
        {
            "field": "run_date",
            "message": "must be a date like 2026-11-29",
            "detail": "Invalid RFC3339 encoded date",
        },
        {
            "field": "env",
            "message": "must be one of: dev, prod",
            "detail": "Invalid enum value 'staging'",
        },
    ]
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
            {
                "field": "limit",
                "message": "must be a whole number from 1 to 1000",
                "detail": "Expected `int`, got `float`",
            }
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
