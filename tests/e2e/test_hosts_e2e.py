"""Host names over real sockets: a DNS-rebinding page reaches nothing, no redirect names a Host."""

from __future__ import annotations

import pytest

from tests.e2e.servers import stack, stats

pytestmark = pytest.mark.looptime(False)
# What a page on rebind.example sends once its name points at the service: the browser calls it
# same-origin, and says so.
REBINDING = {
    "host": "rebind.example",
    "origin": "http://rebind.example",
    "sec-fetch-site": "same-origin",
}


async def test_a_rebinding_page_can_neither_trigger_nor_cancel():
    async with stack() as s:
        run = await s.api.post("/api/jobs/etl/run", json={"params": {"run_date": "2026-11-29"}})
        run_id = run.json()["runId"]
        before = (await stats(s))["calls"]
        trigger = await s.api.post(
            "/api/jobs/etl/run", json={"params": {"run_date": "2026-11-29"}}, headers=REBINDING
        )
        cancel = await s.api.delete(f"/api/jobs/etl/runs/{run_id}", headers=REBINDING)
        read = await s.api.get("/api/jobs", headers=REBINDING)
        after = (await stats(s))["calls"]
    assert (trigger.status_code, cancel.status_code, read.status_code) == (421, 421, 421)
    assert trigger.json()["code"] == "MISDIRECTED_HOST"
    assert after == before  # nothing reached the workspace


async def test_the_same_requests_under_the_service_s_own_name_are_served():
    async with stack() as s:
        own = {**REBINDING, "host": "localhost", "origin": "http://localhost"}
        trigger = await s.api.post(
            "/api/jobs/etl/run", json={"params": {"run_date": "2026-11-29"}}, headers=own
        )
    assert trigger.status_code == 200


@pytest.mark.parametrize(("host", "status"), [("evil.example", 421), ("localhost:1", 404)])
async def test_a_trailing_slash_is_never_a_redirect_to_the_client_s_host(host, status):
    async with stack() as s:
        response = await s.api.post("/api/jobs/etl/run/", headers={"host": host})
    assert response.status_code == status
    assert "location" not in response.headers
    assert response.headers["content-type"] == "application/json"


async def test_a_probe_sent_with_the_pod_s_ip_as_host_is_answered():
    async with stack() as s:
        response = await s.api.get("/readyz", headers={"host": "10.42.0.17:8000"})
    assert response.status_code == 200
