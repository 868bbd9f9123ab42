"""The exception tree keeps its promises: a ClientError is the caller's fault, a 4xx, and the
documented error table lists every code the service can send."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

from service.basics import errors


def subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    return found | {s for c in found for s in subclasses(c)}


def test_every_client_error_is_a_4xx() -> None:
    not_4xx = {c.__name__: c.status for c in subclasses(errors.ClientError) if c.status // 100 != 4}
    assert not_4xx == {}


def test_a_python_caller_catching_client_errors_does_not_swallow_a_shutdown() -> None:
    try:
        raise errors.Unavailable("The service is shutting down", retry_after=1)
    except errors.ClientError:  # the caller's own mistakes, to fix and not retry
        caught_as_client_error = True
    except errors.SidecarError:
        caught_as_client_error = False
    assert caught_as_client_error is False


ROOT = Path(__file__).resolve().parents[2]
TABLE_HEADER = "| situation | status, code |"
CODE = re.compile(r"`([A-Z][A-Z0-9_]+)`")


def error_table() -> tuple[Path, list[str]]:
    """The documented error table (README.md, or wherever under docs/ it has moved): its rows."""
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        lines = path.read_text().splitlines()
        if TABLE_HEADER in lines:
            start = lines.index(TABLE_HEADER) + 2  # the header, then its | --- | line
            rows = itertools.takewhile(lambda line: line.startswith("|"), lines[start:])
            return path, list(rows)
    raise AssertionError(f"no error table ({TABLE_HEADER}) in README.md or docs/")


def test_the_error_table_lists_every_code_the_service_can_send() -> None:
    path, rows = error_table()
    documented = {code for row in rows for code in CODE.findall(row.rsplit("|", 2)[-2])}
    assert documented == errors.codes_sent(), path


def test_the_codes_sent_are_read_off_the_tree() -> None:
    sent = errors.codes_sent()
    assert {"JOB_NOT_FOUND", "RUN_NOT_FOUND", "INTERNAL", "HTTP_404", "HTTP_405"} <= sent
    # Start-up's, the Python API's own, and a base raised only as one of its subclasses.
    assert not sent & {"CONFIG", "CANNOT_LISTEN", "RUN_FAILED", "UPSTREAM_ERROR"}
