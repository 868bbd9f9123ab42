"""How much of what a client sent a message or a log line may repeat: about 200 characters."""

from __future__ import annotations

MAX_ECHO = 200


def echo(text: str, limit: int = MAX_ECHO) -> str:
    """`text`, or when longer than `limit` its start and its end around an ellipsis.

    The end is kept because a message ends with what names the problem (msgspec's "- at `$.p`").
    """
    if len(text) <= limit:
        return text
    tail = limit // 4
    return f"{text[: limit - tail - 1]}…{text[-tail:]}"
