"""The control API under /emulator/ (no auth): faults, stats, reset, the clock, run outcomes."""

from __future__ import annotations

from typing import Annotated

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from service.emulator.clock import ManualClock
from service.emulator.errors import json_response
from service.emulator.faults import FaultRule
from service.emulator.inputs import decode_body
from service.emulator.lifecycle import Outcome
from service.emulator.workspace import Emulator


class _Advance(msgspec.Struct, forbid_unknown_fields=True):
    ms: Annotated[int, msgspec.Meta(ge=0)]


class _SetOutcome(msgspec.Struct, forbid_unknown_fields=True):
    outcome: Outcome


def control_routes(emulator: Emulator) -> list[BaseRoute]:
    """Routes that steer the emulator; each is also a method of `Emulator` for in-process use."""

    async def add_fault(request: Request) -> Response:
        emulator.add_fault(decode_body(await request.body(), FaultRule))
        return json_response({"faults": emulator.faults.pending()})

    async def list_faults(_request: Request) -> Response:
        return json_response({"faults": emulator.faults.pending()})

    async def clear_faults(_request: Request) -> Response:
        emulator.clear_faults()
        return json_response({})

    async def stats(_request: Request) -> Response:
        return json_response(emulator.stats.snapshot())

    async def reset(_request: Request) -> Response:
        emulator.reset()
        return json_response({})

    async def clock(_request: Request) -> Response:
        manual = isinstance(emulator.clock, ManualClock)
        body = {"now_ms": emulator.clock.now_ms(), "speed": emulator.clock.speed, "manual": manual}
        return json_response(body)

    async def advance_clock(request: Request) -> Response:
        now = emulator.advance_clock(decode_body(await request.body(), _Advance).ms)
        return json_response({"now_ms": now})

    async def set_outcome(request: Request) -> Response:
        outcome = decode_body(await request.body(), _SetOutcome).outcome
        emulator.set_outcome(request.path_params["run_id"], outcome)
        return json_response({})

    return [
        Route("/emulator/faults", add_fault, methods=["POST"]),
        Route("/emulator/faults", list_faults, methods=["GET"]),
        Route("/emulator/faults", clear_faults, methods=["DELETE"]),
        Route("/emulator/stats", stats, methods=["GET"]),
        Route("/emulator/reset", reset, methods=["POST"]),
        Route("/emulator/clock", clock, methods=["GET"]),
        Route("/emulator/clock/advance", advance_clock, methods=["POST"]),
        Route("/emulator/runs/{run_id:int}/outcome", set_outcome, methods=["POST"]),
    ]
