"""A string that masks itself wherever it is shown: tokens, client secrets, API keys."""

from __future__ import annotations


class Secret(str):
    """A string that masks itself wherever it is shown."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    @property
    def value(self) -> str:
        return str.__str__(self)
