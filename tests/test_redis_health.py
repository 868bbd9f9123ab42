"""Refusals, foreign values and crashes: counted, logged once a minute per kind, and shown as
`degraded` for a minute after a refusal or a crash."""

from __future__ import annotations

import structlog
from redis.exceptions import OutOfMemoryError, ResponseError

from service.clock import LoopClock
from service.redis_health import QUIET_S, RedisHealth
from tests.factories import advance


def lines(logs, event):
    return [x for x in logs if x["event"] == event]


async def test_a_hundred_foreign_values_are_counted_and_logged_once():
    health = RedisHealth(LoopClock())
    with structlog.testing.capture_logs() as logs:
        for _ in range(100):
            health.rejection("forget")
    assert health.rejected["forget"] == 100
    assert [(x["what"], x["log_level"]) for x in lines(logs, "redis.rejected")] == [
        ("forget", "warning")
    ]


async def test_the_next_line_of_a_kind_comes_a_minute_later_and_says_how_many_were_not_logged():
    health = RedisHealth(LoopClock())
    with structlog.testing.capture_logs() as logs:
        for _ in range(5):
            health.rejection("entry")
        await advance(QUIET_S)
        health.rejection("entry")
    assert [x.get("unlogged") for x in lines(logs, "redis.rejected")] == [None, 4]


async def test_each_kind_has_its_own_minute():
    health = RedisHealth(LoopClock())
    with structlog.testing.capture_logs() as logs:
        health.rejection("forget")
        health.rejection("epoch")
        health.refusal(OutOfMemoryError("command not allowed"))
        health.refusal(ResponseError("WRONGTYPE"))
    assert [x["what"] for x in lines(logs, "redis.rejected")] == ["forget", "epoch"]
    assert [x["error"] for x in lines(logs, "redis.refused")] == [
        "OutOfMemoryError",
        "ResponseError",
    ]


async def test_a_refusal_is_logged_by_its_type_not_its_text():
    health = RedisHealth(LoopClock())
    with structlog.testing.capture_logs() as logs:
        health.refusal(ResponseError("WRONGTYPE key jobs-sidecar:secret-looking"))
    assert "secret-looking" not in str(logs)


async def test_degraded_for_a_minute_after_a_refusal():
    health = RedisHealth(LoopClock())
    before = health.degraded
    health.refusal(OutOfMemoryError())
    during = health.degraded
    await advance(QUIET_S)
    assert (before, during, health.degraded) == (False, True, False)


async def test_degraded_for_a_minute_after_a_crash():
    health = RedisHealth(LoopClock())
    with structlog.testing.capture_logs() as logs:
        health.crash("listener", UnicodeDecodeError("utf-8", b"\xff", 0, 1, "x"), restart_in_s=0.5)
    during = health.degraded
    await advance(QUIET_S)
    assert (during, health.degraded) == (True, False)
    assert health.restarts["listener"] == 1
    (line,) = lines(logs, "redis.task_crashed")
    assert (line["task"], line["error"], line["log_level"]) == (
        "listener",
        "UnicodeDecodeError",
        "error",
    )


async def test_a_foreign_value_alone_does_not_degrade():
    health = RedisHealth(LoopClock())
    health.rejection("idempotency")
    assert not health.degraded
