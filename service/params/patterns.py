"""Parameter patterns enforced with the meaning JSON Schema gives them (ECMAScript's), by `re`.

A job's `pattern` is published as written in its JSON Schema, where a form builder reads it as
an ECMAScript regular expression. Python's `re` reads the same text more leniently in three ways,
each of which let a value through that the published schema refuses; `Pattern` closes them:

- `$` is the end of the value (Python's `$` also matches before a trailing newline, `"abc\\n"`);
- `.` matches no line terminator (Python's matches `\\r`, U+2028 and U+2029);
- `\\d`, `\\w` and `\\b` are ASCII (Python's take any Unicode digit or letter): `re.ASCII`.

Why a pattern is searched for, not matched whole: JSON Schema patterns are unanchored, so a form
accepts "a1b" for `[0-9]`; matching whole would make the published schema untruthful. A pattern
that must cover the whole value says so with `^...$`, as the demo config does.
"""

from __future__ import annotations

import re

_ANY_BUT_LINE_TERMINATOR = "[^\\n\\r\\u2028\\u2029]"


class Pattern:
    """A pattern as published (`source`) and as enforced; raises `re.error` for a bad one."""

    __slots__ = ("_regex", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self._regex = re.compile(_translate(source), re.ASCII)

    def accepts(self, value: str) -> bool:
        return self._regex.search(value) is not None


def _translate(source: str) -> str:
    """`$` → `\\Z` and `.` → not a line terminator, outside classes and escapes."""
    out: list[str] = []
    i = 0
    in_class = False
    while i < len(source):
        char = source[i]
        if char == "\\":
            out.append(source[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            # A `]` first in a class (after an optional `^`) is a literal in Python's re.
            end = i + 1 + source.startswith("^", i + 1)
            end += source.startswith("]", end)
            out.append(source[i:end])
            i, in_class = end, True
            continue
        elif char == "$":
            char = "\\Z"
        elif char == ".":
            char = _ANY_BUT_LINE_TERMINATOR
        out.append(char)
        i += 1
    return "".join(out)
