"""`-p KEY=VALUE`: each value typed as the job's schema says, or a usage error naming it."""

from __future__ import annotations

import pytest

from service.remote_cli.coerce import coerce, pairs, params_json
from service.remote_cli.exits import UsageError

SCHEMA = {
    "type": "object",
    "properties": {
        "run_date": {"type": "string", "format": "date"},
        "dry_run": {"type": "boolean"},
        "limit": {"type": "integer", "minimum": 1},
        "ratio": {"type": "number"},
        "env": {"enum": ["dev", "prod"]},
        "level": {"enum": [1, 2, 3]},
        "args": {"type": "array", "items": {"type": "string"}},
        "ids": {"type": "array", "items": {"type": "integer"}},
    },
}


def typed(*items: str, schema: dict | None = SCHEMA) -> dict:
    return coerce(pairs(items), schema)


def test_values_take_the_schema_s_types():
    assert typed(
        "run_date=2026-11-29", "dry_run=yes", "limit=5", "ratio=0.5", "env=prod", "level=2"
    ) == {
        "run_date": "2026-11-29",
        "dry_run": True,
        "limit": 5,
        "ratio": 0.5,
        "env": "prod",
        "level": 2,
    }


def test_a_list_takes_one_item_per_flag_or_a_json_array():
    assert typed("args=a", "args=b,c") == {"args": ["a", "b,c"]}
    assert typed("ids=[1, 2]") == {"ids": [1, 2]}
    assert typed("ids=3", "ids=4") == {"ids": [3, 4]}


def test_a_value_splits_at_the_first_equals_sign():
    assert typed("run_date=a=b") == {"run_date": "a=b"}


def test_without_a_schema_every_value_is_text():
    assert typed("limit=5", "flag=true", schema=None) == {"limit": "5", "flag": "true"}


def test_unknown_keys_and_non_members_go_as_text_for_the_service_to_judge():
    assert typed("other=5", "env=staging") == {"other": "5", "env": "staging"}


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("limit=abc", "-p limit: expected an integer, got 'abc'"),
        ("ratio=x", "-p ratio: expected a number, got 'x'"),
        ("dry_run=maybe", "-p dry_run: expected true or false, got 'maybe'"),
        ("ids=[1", "-p ids: not a JSON array: '[1'"),
        ("novalue", "-p: expected KEY=VALUE, got 'novalue'"),
        ("=5", "-p: expected KEY=VALUE, got '=5'"),
    ],
)
def test_a_value_that_cannot_be_typed_is_a_usage_error_naming_it(item, message):
    with pytest.raises(UsageError) as raised:
        typed(item)
    assert str(raised.value) == message


def test_params_json_is_an_object_or_a_usage_error():
    assert params_json('{"run_date": "2026-11-29"}') == {"run_date": "2026-11-29"}
    assert params_json(None) == {}
    with pytest.raises(UsageError, match=r"^--params-json: expected a JSON object"):
        params_json("[1]")
    with pytest.raises(UsageError, match=r"^--params-json: not JSON"):
        params_json("{")
