"""Prometheus metrics: read from the live services at each scrape, one registry per app."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from service.web.routes import METRICS_TYPE
from tests.factories import make_client, make_run, make_settings, upstream_router


async def scrape(client: httpx.AsyncClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == METRICS_TYPE
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


async def test_a_fresh_app_shows_every_metric_at_zero(client):
    samples = await scrape(client)
    assert samples == {
        ("sidecar_open_streams", ()): 0,
        ("sidecar_run_watches", ()): 0,
        ("sidecar_cache_entries", ()): 0,
        ("sidecar_polls_total", ()): 0,
        ("sidecar_cache_lookups_total", (("result", "hit"),)): 0,
        ("sidecar_cache_lookups_total", (("result", "miss"),)): 0,
        ("sidecar_caller_stream_places", ()): 0,
        ("sidecar_rate_limited_total", (("limit", "read"),)): 0,
        ("sidecar_rate_limited_total", (("limit", "streams_per_caller"),)): 0,
        ("sidecar_rate_limited_total", (("limit", "trigger"),)): 0,
    }


async def test_reads_are_counted_by_cache_result_and_by_upstream_verb_and_status(client, upstream):
    upstream.get("/runs/get").respond(json=make_run(5, state="TERMINATED", result="SUCCESS"))
    upstream.get("/runs/list").respond(503, json={})
    await client.get("/api/jobs/etl/runs/5")
    await client.get("/api/jobs/etl/runs/5")  # from the cache
    await client.get("/api/jobs/etl/status")  # 503 three times (the read tier's attempts)
    samples = await scrape(client)
    assert samples[("sidecar_cache_lookups_total", (("result", "hit"),))] == 1
    assert samples[("sidecar_cache_entries", ())] == 1
    assert (
        samples[("sidecar_upstream_requests_total", (("status", "200"), ("verb", "runs/get")))] == 1
    )
    assert (
        samples[("sidecar_upstream_requests_total", (("status", "503"), ("verb", "runs/list")))]
        == 3
    )


async def test_each_app_counts_only_its_own_calls():
    router = upstream_router()
    router.get("/runs/get").respond(json=make_run(5, state="TERMINATED", result="SUCCESS"))
    async with (
        make_client(make_settings(), router) as busy,
        make_client(make_settings(), router) as idle,
    ):
        await busy.get("/api/jobs/etl/runs/5")
        busy_samples, idle_samples = await scrape(busy), await scrape(idle)
    assert busy_samples[("sidecar_cache_entries", ())] == 1
    assert idle_samples[("sidecar_cache_entries", ())] == 0
    assert not [key for key in idle_samples if key[0] == "sidecar_upstream_requests_total"]
