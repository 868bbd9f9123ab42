"""Accept failures for lack of fds: counted, logged at most once a second, never a traceback."""

from __future__ import annotations

import asyncio
import errno

import pytest
import structlog

from service.serving.accept_errors import OUT_OF_RESOURCES, AcceptFailureLog
from tests.factories import advance


def failure() -> dict[str, object]:
    return {"message": OUT_OF_RESOURCES, "exception": OSError(errno.EMFILE, "Too many open files")}


async def test_a_burst_of_failures_is_one_line_a_second_with_its_count():
    loop = asyncio.get_running_loop()
    handler = AcceptFailureLog()
    with structlog.testing.capture_logs() as logs:
        for _ in range(100):  # asyncio retries up to `backlog` times per wake-up
            handler(loop, failure())
        await advance(0.5)
        handler(loop, failure())
        await advance(0.6)
        handler(loop, failure())
    assert [(line["event"], line["failures"], line["total"]) for line in logs] == [
        ("serve.accept_failed", 1, 1),
        ("serve.accept_failed", 101, 102),
    ]
    assert logs[0]["error"] == "EMFILE"
    assert "exc_info" not in logs[0]


async def test_other_loop_errors_go_to_the_default_handler(caplog):
    handler = AcceptFailureLog()
    with structlog.testing.capture_logs() as logs:
        handler(asyncio.get_running_loop(), {"message": "something else"})
    assert logs == []
    assert "something else" in caplog.text


@pytest.mark.parametrize("code", [errno.ENFILE, errno.ENOBUFS, errno.ENOMEM])
async def test_each_resource_error_is_named(code):
    handler = AcceptFailureLog()
    with structlog.testing.capture_logs() as logs:
        handler(
            asyncio.get_running_loop(),
            {"message": OUT_OF_RESOURCES, "exception": OSError(code, "x")},
        )
    assert logs[0]["error"] == errno.errorcode[code]
