"""What a parameter must be, in words: read off the type each `[jobs.<key>.params]` line makes."""

from __future__ import annotations

import tomllib

import msgspec
import pytest

from service.params.messages import must_be
from service.params.schemas import schema_from_toml


def said(spec: str) -> str:
    """The words for parameter `p` of a schema line `p = <spec>`."""
    schema = schema_from_toml("etl", tomllib.loads(f"p = {spec}"))
    (field,) = msgspec.structs.fields(schema)
    return must_be(field.type)


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ('"str"', "must be text"),
        ('"int"', "must be a whole number"),
        ('"float"', "must be a number"),
        ('"bool"', "must be true or false"),
        ('"date"', "must be a date like 2026-11-29"),
        ('"datetime"', "must be a date and time like 2026-11-29T08:00:00Z"),
        ('"list[str]"', "must be a list of text values"),
        ('"list[int]"', "must be a list of whole numbers"),
        ('"int?"', "must be a whole number"),  # optional: the same words when it is given
        ('{ type = "int", optional = true, description = "rows" }', "must be a whole number"),
    ],
)
def test_each_type_has_its_words(spec, words):
    assert said(spec) == words


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        (
            '{ type = "str", min_length = 3, max_length = 3 }',
            "must be text of exactly 3 characters",
        ),
        ('{ type = "str", min_length = 1 }', "must be text of at least 1 character"),
        (
            '{ type = "list[str]", min_length = 2, max_length = 5 }',
            "must be a list of text values of 2 to 5 items",
        ),
        ('{ type = "float", le = 2.5 }', "must be a number, at most 2.5"),
        ('{ type = "int", ge = 0, le = 5 }', "must be a whole number from 0 to 5"),
        ('{ type = "int", ge = 10000000 }', "must be a whole number, at least 10000000"),
    ],
)
def test_bounds_and_lengths_are_said_as_a_person_would(spec, words):
    assert said(spec) == words


def test_an_enum_lists_its_values_in_the_configs_order():
    assert said('{ type = "str", enum = ["emea", "amer", "apac"] }') == (
        "must be one of: emea, amer, apac"
    )
    assert said('{ type = "int", enum = [3, 1, 2], optional = true }') == "must be one of: 3, 1, 2"


def test_a_pattern_is_quoted_as_configured():
    schema = schema_from_toml("etl", {"p": {"type": "str", "pattern": "^[a-z_]+$"}})
    (field,) = msgspec.structs.fields(schema)
    assert must_be(field.type, "^[a-z_]+$") == "must be text, matching ^[a-z_]+$"
