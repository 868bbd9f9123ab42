"""A Retry-After date is read against the injected clock's wall time, not the machine's."""

from __future__ import annotations

import pytest

from service.clock import LoopClock
from tests.factories import HOST, m2m_settings, make_client, make_settings, upstream_router

DATE = "Wed, 21 Oct 2015 07:28:30 GMT"
THIRTY_S_BEFORE_MS = 1_445_412_480_000  # 2015-10-21 07:28:00 UTC


class StoppedWallClock(LoopClock):
    """Loop time as usual; the wall clock stands at 07:28:00 on the day of `DATE`."""

    def wall_ms(self) -> int:
        return THIRTY_S_BEFORE_MS


@pytest.mark.parametrize("where", ["api", "token"])
async def test_a_throttled_reply_with_a_date_tells_the_client_the_seconds_left(where):
    router = upstream_router()
    throttled = {"status_code": 429, "headers": {"Retry-After": DATE}, "json": {}}
    if where == "api":
        settings = make_settings()
        router.get("/runs/get").respond(**throttled)
    else:
        settings = m2m_settings()
        router.post(f"{HOST}/oidc/v1/token").respond(**throttled)
    async with make_client(settings, router, clock=StoppedWallClock()) as client:
        response = await client.get("/api/jobs/etl/runs/555")
    assert response.status_code == 503
    assert response.json()["code"] == "UPSTREAM_THROTTLED"
    assert response.headers["retry-after"] == "30"
