"""Ids as the Jobs API hands them out: positive int64s, written in ASCII digits."""

from __future__ import annotations

INT64_MAX = 2**63 - 1
_MAX_DIGITS = len(str(INT64_MAX))  # never int() a 4,300-digit string


def positive_int64(text: str) -> int | None:
    """The id `text` spells, or None: `12abc`, `1.5`, `0`, `-3`, `²` and 2**63 are not ids."""
    if not text.isascii() or not text.isdigit() or len(text) > _MAX_DIGITS:
        return None
    value = int(text)
    return value if 0 < value <= INT64_MAX else None
