"""Cross-site requests: a browser's POST or DELETE from another site is refused, curl's is not."""

from __future__ import annotations

import pytest

from tests.factories import make_client, make_run, make_settings

REFUSED = {
    "error": (
        "Cross-site request refused: runs are started and cancelled from this service's pages"
    ),
    "code": "CROSS_ORIGIN",
    "plugin": "jobs",
}
# The test client's own origin is http://sidecar.test.
FOREIGN = {
    "cross-site": {"sec-fetch-site": "cross-site", "origin": "https://evil.example"},
    "same-site": {"sec-fetch-site": "same-site", "origin": "http://other.sidecar.test"},
    "cross-site, no origin": {"sec-fetch-site": "cross-site"},
    "old browser": {"origin": "https://evil.example"},
    "opaque origin": {"origin": "null"},
    "lookalike host": {"origin": "http://sidecar.test.evil.example"},
    "other port": {"origin": "http://sidecar.test:8080"},
    "other scheme": {"origin": "https://sidecar.test"},
    "behind the proxy": {"x-forwarded-host": "jobs.apps.example", "origin": "https://evil.example"},
    "internal host behind the proxy": {
        "x-forwarded-host": "jobs.apps.example",
        "origin": "http://sidecar.test",
    },
}
OWN = {
    "curl": {},
    "same-origin": {"sec-fetch-site": "same-origin", "origin": "http://sidecar.test"},
    "address bar": {"sec-fetch-site": "none"},
    "old browser": {"origin": "http://sidecar.test"},
    "default port, any case": {"origin": "http://SideCar.test:80"},
    "Databricks Apps proxy": {
        "x-forwarded-host": "jobs.apps.example",
        "origin": "https://jobs.apps.example",
    },
    "proxy with scheme": {
        "x-forwarded-host": "jobs.apps.example, internal:8000",
        "x-forwarded-proto": "https",
        "origin": "https://jobs.apps.example:443",
    },
}


@pytest.mark.parametrize("headers", FOREIGN.values(), ids=FOREIGN.keys())
async def test_a_cross_site_post_is_403_and_starts_nothing(client, upstream, headers):
    run_now = upstream.post("/run-now").respond(json={"run_id": 7})
    response = await client.post(
        "/api/jobs/etl/run", content=b"{}", headers={"content-type": "text/plain", **headers}
    )
    assert response.status_code == 403
    assert response.json() == REFUSED
    assert response.headers["x-request-id"]
    assert not run_now.called


@pytest.mark.parametrize("headers", FOREIGN.values(), ids=FOREIGN.keys())
async def test_a_cross_site_delete_is_403_and_cancels_nothing(client, upstream, headers):
    upstream.get("/runs/get").respond(json=make_run(555))
    cancel = upstream.post("/runs/cancel").respond(json={})
    response = await client.delete("/api/jobs/etl/runs/555", headers=headers)
    assert response.status_code == 403
    assert response.json()["code"] == "CROSS_ORIGIN"
    assert not cancel.called


@pytest.mark.parametrize("headers", OWN.values(), ids=OWN.keys())
async def test_a_post_from_the_services_own_origin_or_no_browser_starts_the_run(
    client, upstream, headers
):
    run_now = upstream.post("/run-now").respond(json={"run_id": 7})
    response = await client.post(
        "/api/jobs/etl/run", content=b"{}", headers={"content-type": "text/plain", **headers}
    )
    assert response.json() == {"runId": 7}
    assert run_now.call_count == 1


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
async def test_reads_from_another_site_are_never_refused(client, upstream, method):
    upstream.get("/runs/list").respond(json={"runs": []})
    response = await client.request(method, "/api/jobs/etl/status", headers=FOREIGN["cross-site"])
    assert response.status_code != 403


async def test_an_allowed_origin_may_post_from_another_site(upstream):
    settings = make_settings(allowed_origins=("https://portal.example:443/",))
    run_now = upstream.post("/run-now").respond(json={"run_id": 7})
    async with make_client(settings, upstream) as client:
        response = await client.post(
            "/api/jobs/etl/run",
            json={},
            headers={"sec-fetch-site": "cross-site", "origin": "https://portal.example"},
        )
    assert response.json() == {"runId": 7}
    assert run_now.called
