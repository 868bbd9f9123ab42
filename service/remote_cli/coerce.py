"""`-p KEY=VALUE` as typed parameters: each value read as the job's JSON Schema types it.

The service validates what it gets (and names every misfit in one 400); this only turns shell
text into the JSON type the schema asks for, so that `-p limit=5` sends 5 and `-p dry_run=yes`
sends true. A parameter the schema does not know is sent as text, for the service to judge.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from service.remote_cli.exits import UsageError

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def pairs(items: Sequence[str]) -> list[tuple[str, str]]:
    """`KEY=VALUE` items split at the first `=`."""
    split = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"-p: expected KEY=VALUE, got {shown(item)}")
        split.append((key, value))
    return split


def params_json(text: str | None) -> dict[str, Any]:
    """`--params-json`: a JSON object of parameters (the base `-p` values add to)."""
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"--params-json: not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise UsageError('--params-json: expected a JSON object, like \'{"run_date": "..."}\'')
    return value


def coerce(items: Sequence[tuple[str, str]], schema: dict[str, Any] | None) -> dict[str, Any]:
    """The parameters, typed by `schema` (a job's `params`; None: no schema, all text). An
    array parameter takes a JSON array, or one item per `-p` of it."""
    properties = (schema or {}).get("properties")
    known = properties if isinstance(properties, dict) else {}
    params: dict[str, Any] = {}
    for key, text in items:
        prop = known.get(key)
        prop = prop if isinstance(prop, dict) else {}
        if _type(prop) == "array":
            if text.lstrip().startswith("["):
                params[key] = _json_array(key, text)
            else:
                items_schema = prop.get("items")
                item = _scalar(key, items_schema if isinstance(items_schema, dict) else {}, text)
                params.setdefault(key, []).append(item)
        else:
            params[key] = _scalar(key, prop, text)
    return params


def _type(prop: dict[str, Any]) -> str | None:
    kind = prop.get("type")
    if isinstance(kind, list):  # ["integer", "null"]
        kind = next((k for k in kind if k != "null"), None)
    return kind if isinstance(kind, str) else None


def _scalar(key: str, prop: dict[str, Any], text: str) -> Any:
    enum = prop.get("enum")
    if isinstance(enum, list):
        for member in enum:
            if text == (member if isinstance(member, str) else json.dumps(member)):
                return member
        return text  # not a member: the service names it, with the members
    kind = _type(prop)
    if kind == "integer":
        try:
            return int(text)
        except ValueError:
            raise UsageError(f"-p {key}: expected an integer, got {shown(text)}") from None
    if kind == "number":
        try:
            number = float(text)
        except ValueError:
            raise UsageError(f"-p {key}: expected a number, got {shown(text)}") from None
        return int(number) if number.is_integer() and "." not in text else number
    if kind == "boolean":
        word = text.strip().lower()
        if word in _TRUE | _FALSE:
            return word in _TRUE
        raise UsageError(f"-p {key}: expected true or false, got {shown(text)}")
    return text


def _json_array(key: str, text: str) -> list[Any]:
    try:
        value = json.loads(text)
    except ValueError:
        raise UsageError(f"-p {key}: not a JSON array: {shown(text)}") from None
    if not isinstance(value, list):
        raise UsageError(f"-p {key}: expected a JSON array, got {shown(text)}")
    return value


def shown(text: str, limit: int = 60) -> str:
    """Some of what the user typed, quoted, for a message."""
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")
