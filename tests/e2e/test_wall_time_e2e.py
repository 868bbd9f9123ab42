"""Over real sockets: a sped-up emulator's run times agree with the service's event timestamps."""

from __future__ import annotations

import json

import pytest

from tests.e2e.servers import stack
from tests.factories import sse_events

pytestmark = pytest.mark.looptime(False)


async def test_a_runs_times_never_lie_ahead_of_the_events_that_report_it():
    async with stack() as s:
        response = await s.api.post(
            "/api/jobs/etl/run?stream=true", json={"params": {"run_date": "2026-11-29"}}
        )
    events = [
        json.loads(e["data"]) for e in sse_events(response.text) if e.get("event") == "message"
    ]
    assert events[-1]["status"] == "TERMINATED"
    for event in events:
        assert 0 < event["run"]["start_time"] <= event["timestamp"]
    final = events[-1]
    assert final["run"]["start_time"] <= final["run"]["end_time"] <= final["timestamp"]
