"""Parameter patterns mean what the published JSON Schema says: ECMAScript, not Python's `re`."""

from __future__ import annotations

import tomllib

import pytest

from service.basics.errors import ConfigError, InvalidRequest
from service.params.schemas import params_json_schema, schema_from_toml, validate_params


def validate(pattern: str, value: str) -> dict:
    spec = tomllib.loads(f"p = {{ type = 'str', pattern = '{pattern}' }}")
    return validate_params("etl", schema_from_toml("etl", spec), {"p": value})


@pytest.mark.parametrize(
    ("pattern", "value"),
    [
        ("^[a-z_]+$", "abc\n"),  # Python's `$` also matches before a trailing newline
        ("^.+$", "abc\r"),  # ECMAScript's `.` matches no line terminator
        ("^.+$", "a\u2028b"),
        ("^\\d+$", "١٢"),  # ECMAScript's \d is [0-9]; Python's is any Unicode digit
        ("^\\w+$", "café"),
        ("^\\$[a-z$]+$", "$a$\n"),
    ],
)
def test_a_value_the_published_pattern_refuses_is_rejected(pattern, value):
    with pytest.raises(InvalidRequest) as excinfo:
        validate(pattern, value)
    assert excinfo.value.message == (
        f'The parameters of job "etl" do not fit: p must be text, matching {pattern}'
    )
    assert excinfo.value.fields[0]["detail"] == f"Expected `str` matching regex {pattern!r}"


@pytest.mark.parametrize(
    ("pattern", "value"),
    [
        ("^[a-z_]+$", "abc"),
        ("^\\$[a-z$]+$", "$a$"),  # an escaped `$` and one in a class are literal dollars
        ("^[.]+$", ".."),  # as is a `.` in a class
        ("[0-9]", "a1b"),  # unanchored, as JSON Schema patterns are: the form accepts it too
        ("^a\\.b$", "a.b"),
        ("^[^]]+$", "abc"),  # a `]` first in a class does not end it
    ],
)
def test_a_value_the_published_pattern_accepts_is_accepted(pattern, value):
    assert validate(pattern, value) == {"p": value}


def test_the_json_schema_publishes_the_configured_pattern():
    spec = tomllib.loads("table = { type = 'str', pattern = '^[a-z_]+$', max_length = 64 }")
    document = params_json_schema(schema_from_toml("wheel", spec))
    assert document is not None
    assert document["properties"]["table"] == {
        "type": "string",
        "pattern": "^[a-z_]+$",
        "maxLength": 64,
    }


def test_a_default_outside_the_pattern_is_a_config_error():
    spec = tomllib.loads("p = { type = 'str', pattern = '^[a-z]+$', default = \"abc\\n\" }")
    with pytest.raises(ConfigError, match=r"default 'abc\\n' does not fit"):
        schema_from_toml("etl", spec)


def test_a_pattern_that_is_not_a_string_is_a_config_error():
    with pytest.raises(ConfigError, match=r'param "p": bad constraint: `pattern` must be a str'):
        schema_from_toml("etl", {"p": {"type": "str", "pattern": 5}})
