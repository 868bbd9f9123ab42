"""The service and the emulator on real Hypercorn (loopback, free ports), for a browser to use."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec

from service.app import create_app
from service.basics.secret import Secret
from service.emulator import ScaledClock, Scenario, create_emulator_app
from service.emulator.app import emulator_state
from service.emulator.workspace import Emulator
from service.settings.api_keys import ApiKey
from tests.e2e.servers import fast_settings, running

API_KEY = "dash-key-0123456789abcdef"  # the one key of `served(token=True)`, named `dashboard`


class Served(msgspec.Struct):
    url: str  # the service (its dashboard at /)
    emulator_url: str
    emulator: Emulator  # the emulated workspace itself: what reached Databricks

    def runs_of(self, job_id: int) -> list[Any]:
        return [r for r in self.emulator.runs.values() if r.job.job_id == job_id]


@asynccontextmanager
async def served(speed: float, *, token: bool = False) -> AsyncIterator[Served]:
    """Demo config and scenario; runs play `speed` times faster than written; polls every 50 ms.
    `token`: in token mode, with one API key (API_KEY)."""
    scenario = msgspec.structs.replace(Scenario.demo(), speed=speed)
    emulator_app = create_emulator_app(scenario, clock=ScaledClock(speed=speed))
    async with running(emulator_app) as emulator_url:
        settings = fast_settings(emulator_url)
        if token:
            access = msgspec.structs.replace(settings.access, mode="token")
            keys = (ApiKey("dashboard", Secret(API_KEY)),)
            settings = msgspec.structs.replace(settings, access=access, api_keys=keys)
        service = create_app(settings)
        async with running(service) as url:
            yield Served(url=url, emulator_url=emulator_url, emulator=emulator_state(emulator_app))
