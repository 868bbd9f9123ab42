"""Job parameters: Struct schemas from TOML, their validation, and their run-now fields."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Annotated, Any, Literal

import msgspec

from service.basics.echo import echo
from service.basics.errors import ConfigError, FieldError, InvalidParams, InvalidRequest
from service.params.messages import must_be, wanted
from service.params.patterns import Pattern

TASK_TYPES = frozenset(
    {"notebook", "python_wheel", "python_script", "spark_jar", "sql", "dbt", "job"}
)
RUN_NOW_PARAM_FIELDS = frozenset(
    {
        "job_parameters",
        "notebook_params",
        "python_params",
        "python_named_params",
        "jar_params",
        "sql_params",
        "spark_submit_params",
        "dbt_commands",
        "pipeline_params",
    }
)
MAX_UNSCHEMATISED_KEYS = 50
# Databricks refuses (400) a legacy parameter field over 10,000 bytes of JSON, and non-ASCII
# python_params / spark_submit_params: refused here first, saying which, with nothing sent.
MAX_PARAM_BYTES = 10_000
_ASCII_ONLY = frozenset({"python_params", "spark_submit_params"})
ASCII_PATTERN = "^[\\x00-\\x7f]*$"
MAX_FIELD_ERRORS = 50  # a body of 10,000 unknown keys gets 50 of them named, not 10,000

_TYPES: dict[str, Any] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "date": date,
    "datetime": datetime,
    "list[str]": list[str],
    "list[int]": list[int],
}
_TYPE_NAMES = ", ".join(_TYPES)
# The constraints each type accepts, beyond the _COMMON options.
_CONSTRAINTS: dict[str, frozenset[str]] = {
    "str": frozenset({"enum", "pattern", "min_length", "max_length"}),
    "int": frozenset({"enum", "ge", "le"}),
    "float": frozenset({"ge", "le"}),
    "list[str]": frozenset({"min_length", "max_length"}),
    "list[int]": frozenset({"min_length", "max_length"}),
}
_COMMON = ("type", "default", "optional", "description")
_OPTIONS = (*_COMMON, "enum", "pattern", "min_length", "max_length", "ge", "le")
_MAP_FIELDS = {
    "notebook": "notebook_params",
    "python_wheel": "python_named_params",
    "sql": "sql_params",
    "job": "job_parameters",
}
_LIST_FIELDS = {"python_script": "python_params", "spark_jar": "jar_params"}
# Validated values keep these types; everything else msgspec knows becomes JSON-shaped.
_KEEP = (datetime, date)
# The schema class attribute holding its fields' patterns (field names cannot start with __).
_PATTERNS = "__param_patterns__"


def schema_from_toml(job_key: str, table: Mapping[str, object]) -> type[msgspec.Struct]:
    """Build a strict, frozen Struct from a job's `[jobs.<key>.params]` table."""
    if not isinstance(table, Mapping):
        raise ConfigError(f'job "{job_key}": params must be a table of field = type')
    fields = [_field(job_key, name, spec) for name, spec in table.items()]
    patterns = {name: pattern for name, _, _, pattern in fields if pattern is not None}
    struct_name = "".join(p.capitalize() for p in re.split(r"[^0-9A-Za-z]+", job_key)) + "Params"
    return msgspec.defstruct(
        struct_name,
        [field[:3] for field in fields],
        namespace={_PATTERNS: patterns},
        forbid_unknown_fields=True,
        kw_only=True,
        frozen=True,
    )


def _field(job_key: str, name: object, spec: object) -> tuple[str, Any, Any, Pattern | None]:
    where = f'job "{job_key}": param "{name}"'
    # Dunder names would shadow the Struct's own attributes.
    if not isinstance(name, str) or not name.isidentifier() or name.startswith("__"):
        raise ConfigError(f"{where}: the name must be an identifier not starting with __")
    options: Mapping[str, object]
    if isinstance(spec, str):
        options = {"type": spec}
    elif isinstance(spec, Mapping):
        options = spec
    else:
        raise ConfigError(f"{where}: expected a type name or a table, got {type(spec).__name__}")
    unknown = [key for key in options if key not in _OPTIONS]
    if unknown:
        raise ConfigError(
            f'{where}: unknown option "{unknown[0]}" (expected: {", ".join(_OPTIONS)})'
        )
    raw_type = options.get("type")
    if not isinstance(raw_type, str):
        raise ConfigError(f'{where}: "type" must be one of: {_TYPE_NAMES}')
    type_name = raw_type.removesuffix("?")
    if type_name not in _TYPES:
        raise ConfigError(f'{where}: unknown type "{type_name}" (expected one of: {_TYPE_NAMES})')
    optional = options.get("optional", False)
    if not isinstance(optional, bool):
        raise ConfigError(f'{where}: "optional" must be true or false')
    optional = optional or raw_type.endswith("?")
    tp, pattern = _constrained(where, type_name, options)
    if "default" in options:
        try:
            default = msgspec.convert(options["default"], tp)
            _check_pattern(name, pattern, default)
        except (msgspec.ValidationError, InvalidRequest) as exc:
            raise ConfigError(
                f"{where}: default {options['default']!r} does not fit: {exc}"
            ) from None
        if isinstance(default, list):  # msgspec refuses shared mutable defaults
            field: Any = msgspec.field(default_factory=functools.partial(list, default))
            return name, tp, field, pattern
        return name, tp, default, pattern
    if optional:
        return name, tp | msgspec.UnsetType, msgspec.UNSET, pattern
    return name, tp, msgspec.NODEFAULT, pattern


def _constrained(
    where: str, type_name: str, options: Mapping[str, object]
) -> tuple[Any, Pattern | None]:
    """The field's type and pattern: an `enum` becomes a Literal, the rest a `Meta` annotation.

    A pattern is enforced by `_check_pattern` with ECMAScript's meaning (service.params.patterns),
    and only published through `Meta`: msgspec's own check would read it as Python's `re` does.
    """
    given: dict[str, Any] = {
        k: v for k, v in options.items() if k not in ("type", "default", "optional")
    }
    allowed = _CONSTRAINTS.get(type_name, frozenset()) | {"description"}
    misfit = [key for key in given if key not in allowed]
    if misfit:
        raise ConfigError(f'{where}: "{misfit[0]}" does not apply to type "{type_name}"')
    tp: Any = _TYPES[type_name]
    if "enum" in given:
        values = given.pop("enum")
        # bool is an int in Python, but never a valid member of an int enum.
        if not isinstance(values, list) or not values or not all(type(v) is tp for v in values):
            raise ConfigError(f"{where}: enum must be a non-empty list of {type_name} values")
        combined = sorted(set(given) - {"description"})
        if combined:
            raise ConfigError(f'{where}: "enum" cannot be combined with "{combined[0]}"')
        tp = Literal[tuple(values)]
    for low, high in (("ge", "le"), ("min_length", "max_length")):
        lo, hi = given.get(low), given.get(high)
        if isinstance(lo, int | float) and isinstance(hi, int | float) and lo > hi:
            raise ConfigError(f"{where}: {low} ({lo}) is greater than {high} ({hi})")
    pattern = None
    if "pattern" in given:
        source = given.pop("pattern")
        if not isinstance(source, str):
            kind = type(source).__name__
            raise ConfigError(f"{where}: bad constraint: `pattern` must be a str, got {kind}")
        given["extra_json_schema"] = {"pattern": source}
        try:
            pattern = Pattern(source)
        except re.error as exc:
            raise ConfigError(f"{where}: bad constraint: {exc}") from None
    if not given:
        return tp, pattern
    try:
        return Annotated[tp, msgspec.Meta(**given)], pattern
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: bad constraint: {exc}") from None


def _check_pattern(name: str, pattern: Pattern | None, value: object) -> None:
    if pattern is None or not isinstance(value, str) or pattern.accepts(value):
        return
    raise InvalidRequest(f"Expected `str` matching regex {pattern.source!r}")


def validate_params(
    job_key: str, schema: type[msgspec.Struct] | None, params: object
) -> dict[str, Any]:
    """Check request parameters against the job's schema; the validated values, UNSET left out."""
    if schema is not None and isinstance(params, schema):
        # Re-validated: constructing a Struct in Python does not check its `Meta` constraints.
        params = msgspec.to_builtins(params, builtin_types=_KEEP)
    if not isinstance(params, dict):
        raise InvalidRequest("params must be a plain object")
    if schema is None:
        if len(params) > MAX_UNSCHEMATISED_KEYS:
            raise InvalidRequest("Too many parameters")
        return params
    problems = field_errors(schema, params)
    if problems:
        summary = "; ".join(f"{problem.field} {problem.message}" for problem in problems)
        raise InvalidParams(
            f'The parameters of job "{job_key}" do not fit: {summary}',
            fields=[msgspec.structs.asdict(problem) for problem in problems],
        )
    # strict=True still parses ISO strings into date/datetime, but never "5" into an int.
    validated = msgspec.convert(params, schema, strict=True)
    result: dict[str, Any] = msgspec.to_builtins(validated, builtin_types=_KEEP)
    return result


def field_errors(schema: type[msgspec.Struct], params: Mapping[str, Any]) -> list[FieldError]:
    """Each misfit parameter, in schema order, then unknown ones.

    Why field by field: msgspec stops at the first error, and a form wants them all at once.
    `message` says what the field must be, for people (service.params.messages); `detail` is
    msgspec's wording, with the path within the field for a list's item.
    """
    problems: list[FieldError] = []
    patterns: dict[str, Pattern] = getattr(schema, _PATTERNS, {})
    for info in msgspec.structs.fields(schema):
        name = info.name
        pattern = patterns.get(name)
        source = pattern.source if pattern is not None else None
        if name not in params:
            if info.required:
                message = f"is required: {wanted(info.type, source)}"
                detail = f"Object missing required field `{name}`"
                problems.append(FieldError(name, message, detail))
            continue
        try:
            value = msgspec.convert(params[name], info.type, strict=True)
            _check_pattern(name, pattern, value)
        except (msgspec.ValidationError, InvalidRequest) as exc:
            # msgspec quotes the client's values: at most ~200 characters of them.
            text, _, inner = echo(str(exc)).partition(" - at `$")
            detail = f"{text} - at `{name}{inner}" if inner else text
            problems.append(FieldError(name, must_be(info.type, source), detail))
    known = list(schema.__struct_fields__)
    for key in params:
        if key not in known:
            shown = echo(str(key))
            message = f"is not a parameter of this job (it takes: {', '.join(known)})"
            detail = f"Object contains unknown field `{shown}`"
            problems.append(FieldError(shown, message, detail))
    return problems[:MAX_FIELD_ERRORS]


def run_now_fields(
    job_key: str, task_type: str | None, params: Mapping[str, Any]
) -> dict[str, Any]:
    """The run-now request fields for validated parameters; `None` values are left out.

    Why this differs from AppKit: a non-array `args` or an unsendable value is a 400 here, not a
    silent `[]` or a 500. Empty maps and lists are not sent, so the job's own defaults apply.
    """
    if task_type is None:
        unknown = [key for key in params if key not in RUN_NOW_PARAM_FIELDS]
        if unknown:
            allowed = ", ".join(sorted(RUN_NOW_PARAM_FIELDS))
            raise InvalidRequest(
                f'"{echo(unknown[0])}" is not a run parameter (allowed: {allowed})'
            )
        return {key: value for key, value in params.items() if value is not None}
    if task_type in _MAP_FIELDS:
        rendered = {k: _as_string(k, v) for k, v in params.items() if v is not None}
        return {_MAP_FIELDS[task_type]: rendered} if rendered else {}
    if task_type in _LIST_FIELDS:
        extra = [key for key in params if key != "args"]
        if extra:
            raise InvalidRequest(f'{task_type} tasks take only "args", not "{echo(extra[0])}"')
        args = params.get("args")
        if args is None:
            return {}
        if not isinstance(args, list | tuple):
            raise InvalidRequest(f'"args" must be an array, got {type(args).__name__}')
        if None in args:
            # A positional argument cannot be left out without shifting the ones after it.
            raise InvalidRequest(f"args[{list(args).index(None)}] must not be null")
        items = [_as_string(f"args[{i}]", arg) for i, arg in enumerate(args)]
        return {_LIST_FIELDS[task_type]: items} if items else {}
    if task_type == "dbt":
        if params:
            raise InvalidRequest("dbt tasks do not accept parameters")
        return {}
    raise ConfigError(f'job "{job_key}": unknown task_type "{task_type}"')


def check_sendable(fields: Mapping[str, Any]) -> None:
    """Refuse what Databricks would refuse as too long or not ASCII (a 400 before any call)."""
    for name, value in fields.items():
        if name in _ASCII_ONLY:
            for index, arg in enumerate(value):
                if not arg.isascii():
                    message = f"args[{index}] must be ASCII: Databricks takes ASCII {name} only"
                    raise InvalidParams(message, fields=[{"field": "args", "message": message}])
        # Measured as Databricks' own limit is documented: JSON, non-ASCII escaped (the most).
        if name != "job_parameters" and len(json.dumps(value)) > MAX_PARAM_BYTES:
            raise InvalidRequest(
                f"The parameters are over the {MAX_PARAM_BYTES:,} bytes Databricks takes in {name}"
            )


def _as_string(name: str, value: object) -> str:
    """The Jobs API takes parameters as strings: JSON spellings for booleans, lists and objects."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, date):  # datetime too
        return value.isoformat()
    if isinstance(value, list | tuple | dict):
        try:
            return msgspec.json.encode(value).decode()
        except (TypeError, ValueError):
            pass
    raise InvalidRequest(f'param "{echo(name)}": cannot send a {type(value).__name__} value')


def params_json_schema(
    schema: type[msgspec.Struct] | None, *, task_type: str | None = None
) -> dict[str, Any] | None:
    """A self-contained JSON Schema (2020-12) for a form builder.

    A dbt job takes no parameters: a schema that admits only `{}`. `None` means no schema:
    anything is accepted (and checked only by the task type's mapping and by Databricks).
    """
    if task_type == "dbt":
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {},
            "additionalProperties": False,
        }
    if schema is None:
        return None
    document = _published(msgspec.json.schema(schema), task_type)
    ref = document.pop("$ref", None)
    if ref is None:
        return {"$schema": "https://json-schema.org/draft/2020-12/schema", **document}
    defs: dict[str, Any] = document["$defs"]
    root = dict(defs[ref.rsplit("/", 1)[-1]])
    if len(defs) > 1:  # nested structs still point into $defs, which now sits at the root
        root["$defs"] = defs
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **root}


def _published(document: dict[str, Any], task_type: str | None) -> dict[str, Any]:
    """A python_script job's `args` go as python_params, which Databricks takes in ASCII only."""
    if task_type == "python_script":
        for definition in document.get("$defs", {}).values():
            items = definition.get("properties", {}).get("args", {}).get("items")
            if isinstance(items, dict) and items.get("type") == "string":
                items["pattern"] = ASCII_PATTERN
    return document
