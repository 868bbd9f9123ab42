"""A Redis task that crashes restarts after a back-off, and never ends its task group."""

from __future__ import annotations

import asyncio

import anyio
import pytest

from service.basics.clock import LoopClock
from service.scale_out.redis_health import RedisHealth
from service.scale_out.redis_tasks import MAX_BACKOFF_S, supervise
from tests.factories import advance


class Task:
    """A task that crashes its first `crashes` runs (each after `runs_for_s`), then runs on."""

    def __init__(self, clock: LoopClock, crashes: int, runs_for_s: float = 0.0) -> None:
        self.clock = clock
        self.crashes = crashes
        self.runs_for_s = runs_for_s
        self.starts: list[float] = []

    async def __call__(self) -> None:
        self.starts.append(self.clock.monotonic())
        await self.clock.sleep(self.runs_for_s)
        if len(self.starts) <= self.crashes:
            raise UnicodeDecodeError("utf-8", b"\xff\xfe", 0, 1, "invalid start byte")
        await asyncio.Event().wait()  # runs until cancelled

    @property
    def gaps(self) -> list[float]:
        return [round(b - a, 3) for a, b in zip(self.starts, self.starts[1:], strict=False)]


async def test_a_crashing_task_restarts_after_a_doubling_back_off():
    clock = LoopClock()
    health = RedisHealth(clock)
    task = Task(clock, crashes=4)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(supervise, health, clock, "listener", task)
        await advance(60)
        tasks.cancel_scope.cancel()
    assert task.gaps == [0.5, 1.0, 2.0, 4.0]
    assert health.restarts["listener"] == 4


async def test_the_back_off_stops_growing_at_its_cap():
    clock = LoopClock()
    task = Task(clock, crashes=10)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(supervise, RedisHealth(clock), clock, "reader", task)
        await advance(600)
        tasks.cancel_scope.cancel()
    assert max(task.gaps) == MAX_BACKOFF_S


async def test_a_task_that_ran_a_while_before_it_crashed_restarts_soon():
    clock = LoopClock()
    task = Task(clock, crashes=3, runs_for_s=120)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(supervise, RedisHealth(clock), clock, "reader", task)
        await advance(1000)
        tasks.cancel_scope.cancel()
    assert task.gaps == [120.5, 120.5, 120.5]


async def test_a_crash_leaves_the_other_tasks_of_the_group_running():
    clock = LoopClock()
    task = Task(clock, crashes=1)
    ticks = []

    async def neighbour() -> None:
        while True:
            ticks.append(clock.monotonic())
            await advance(1)  # loop time

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(supervise, RedisHealth(clock), clock, "listener", task)
        tasks.start_soon(neighbour)
        await advance(10.5)
        tasks.cancel_scope.cancel()
    assert len(ticks) == 11


async def test_a_task_that_returns_is_not_restarted():
    clock = LoopClock()
    runs = []

    async def once() -> None:
        runs.append(1)

    await supervise(RedisHealth(clock), clock, "circuit", once)
    assert runs == [1]


async def test_cancelling_a_supervised_task_ends_it():
    clock = LoopClock()
    health = RedisHealth(clock)
    task = Task(clock, crashes=0)
    with anyio.move_on_after(5):
        await supervise(health, clock, "reader", task)
    assert len(task.starts) == 1
    assert health.restarts["reader"] == 0


@pytest.mark.parametrize("error", [RuntimeError("closed"), KeyError(b"r"), ValueError()])
async def test_any_error_of_the_task_is_counted_as_a_restart(error):
    clock = LoopClock()
    health = RedisHealth(clock)
    raised = []

    async def failing() -> None:
        if not raised:
            raised.append(error)
            raise error

    await supervise(health, clock, "reader", failing)
    assert health.restarts["reader"] == 1
