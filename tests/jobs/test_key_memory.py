"""The idempotency memory: first use wins, for its time to live, within its bound."""

from __future__ import annotations

from service.basics.clock import LoopClock
from service.jobs.key_memory import KeyUse, LocalKeyMemory
from tests.factories import advance


async def test_the_first_use_of_a_key_stands():
    memory = LocalKeyMemory(LoopClock())
    assert await memory.reserve("k", "params-a") == KeyUse("params-a")
    assert await memory.reserve("k", "params-b") == KeyUse("params-a")


async def test_the_run_is_remembered_with_its_use():
    memory = LocalKeyMemory(LoopClock())
    await memory.reserve("k", "params-a")
    await memory.remember("k", "params-a", 42)
    assert await memory.reserve("k", "params-a") == KeyUse("params-a", run_id=42)


async def test_a_run_for_other_parameters_is_not_remembered():
    memory = LocalKeyMemory(LoopClock())
    await memory.reserve("k", "params-a")
    await memory.remember("k", "params-b", 42)
    assert await memory.reserve("k", "params-a") == KeyUse("params-a")


async def test_a_key_expires_on_the_clock():
    memory = LocalKeyMemory(LoopClock(), ttl_s=60)
    await memory.reserve("k", "params-a")
    await advance(59)
    assert (await memory.reserve("k", "params-b")).digest == "params-a"
    await advance(1)
    assert (await memory.reserve("k", "params-b")).digest == "params-b"


async def test_the_oldest_key_goes_first_when_full():
    memory = LocalKeyMemory(LoopClock(), max_keys=2)
    for scope in ("k1", "k2", "k3"):
        await memory.reserve(scope, f"{scope}-params")
    assert len(memory) == 2
    assert (await memory.reserve("k1", "other")).digest == "other"
    assert (await memory.reserve("k3", "other")).digest == "k3-params"
