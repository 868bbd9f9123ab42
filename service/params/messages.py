"""What a job parameter must be, in words for people, read off its schema field's type.

A parameter error's `message` is for the person filling in a form ("must be a date like
2026-11-29", "must be a whole number, at least 2000", "must be one of: emea, amer"); msgspec's
own wording ("Invalid RFC3339 encoded date") stays in the error's `detail`, for programs.
Why from the type rather than from msgspec's text: the text names what was wrong with the value,
the type says what would be right, whichever constraint the value broke.
"""

from __future__ import annotations

from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import msgspec
from msgspec import inspect

DATE_EXAMPLE = "2026-11-29"
DATETIME_EXAMPLE = "2026-11-29T08:00:00Z"
_ITEMS = {
    inspect.StrType: "text values",
    inspect.IntType: "whole numbers",
    inspect.FloatType: "numbers",
    inspect.BoolType: "true or false values",
    inspect.DateType: f"dates like {DATE_EXAMPLE}",
    inspect.DateTimeType: f"dates and times like {DATETIME_EXAMPLE}",
}

# DateTimeType is no DateType (nor the other way round): each has its own words.
_SCALARS = {
    inspect.BoolType: "true or false",
    inspect.DateType: f"a date like {DATE_EXAMPLE}",
    inspect.DateTimeType: f"a date and time like {DATETIME_EXAMPLE}",
}


def must_be(tp: Any, pattern: str | None = None) -> str:
    """`must be <what>` for a value of `tp`; `pattern`: the ECMAScript pattern it must match."""
    return f"must be {wanted(tp, pattern)}"


def wanted(tp: Any, pattern: str | None = None) -> str:
    """What a value of `tp` must be: "a whole number from 2000 to 2100", "one of: dev, prod"."""
    info = _plain(inspect.type_info(tp))
    if isinstance(info, inspect.StrType):
        text = "text" + _count(info.min_length, info.max_length, "character")
        return f"{text}, matching {pattern}" if pattern else text
    if isinstance(info, inspect.ListType):
        items = _ITEMS.get(type(_plain(info.item_type)), "values")
        return f"a list of {items}" + _count(info.min_length, info.max_length, "item")
    if isinstance(info, inspect.IntType | inspect.FloatType):
        kind = "a whole number" if isinstance(info, inspect.IntType) else "a number"
        return kind + _bounds(info.ge, info.le)
    if isinstance(info, inspect.LiteralType):
        return "one of: " + ", ".join(str(value) for value in _in_order(tp, info.values))
    return _SCALARS.get(type(info), "a value of the type the job's schema gives")


def _plain(info: inspect.Type) -> inspect.Type:
    """The type itself, without the Meta it carries (a description, a published pattern); an
    optional parameter's UNSET is not in its type's info (it is never a value sent)."""
    while isinstance(info, inspect.Metadata):
        info = info.type
    return info


def _in_order(tp: Any, values: tuple[Any, ...]) -> tuple[Any, ...]:
    """An enum's values in the order the config lists them (msgspec's info sorts them)."""
    while (origin := get_origin(tp)) is not Literal:
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, UnionType):
            tp = next(arg for arg in get_args(tp) if arg is not msgspec.UnsetType)
        else:
            return values
    return get_args(tp)


def _bounds(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f" from {_number(low)} to {_number(high)}"
    if low is not None:
        return f", at least {_number(low)}"
    if high is not None:
        return f", at most {_number(high)}"
    return ""


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def _count(least: int | None, most: int | None, unit: str) -> str:
    if least is not None and most is not None:
        if least == most:
            return f" of exactly {_units(least, unit)}"
        return f" of {least} to {most} {unit}s"
    if least is not None:
        return f" of at least {_units(least, unit)}"
    if most is not None:
        return f" of at most {_units(most, unit)}"
    return ""


def _units(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"
