"""The service and the emulator on real Hypercorn (loopback, free ports), for a browser to use."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec

from service.app import create_app
from service.emulator import ScaledClock, Scenario, create_emulator_app
from service.emulator.app import emulator_state
from service.emulator.workspace import Emulator
from tests.e2e.servers import fast_settings, running


class Served(msgspec.Struct):
    url: str  # the service (its dashboard at /)
    emulator_url: str
    emulator: Emulator  # the emulated workspace itself: what reached Databricks

    def runs_of(self, job_id: int) -> list[Any]:
        return [r for r in self.emulator.runs.values() if r.job.job_id == job_id]


@asynccontextmanager
async def served(speed: float) -> AsyncIterator[Served]:
    """Demo config and scenario; runs play `speed` times faster than written; polls every 50 ms."""
    scenario = msgspec.structs.replace(Scenario.demo(), speed=speed)
    emulator_app = create_emulator_app(scenario, clock=ScaledClock(speed=speed))
    async with running(emulator_app) as emulator_url:
        service = create_app(fast_settings(emulator_url))
        async with running(service) as url:
            yield Served(url=url, emulator_url=emulator_url, emulator=emulator_state(emulator_app))
