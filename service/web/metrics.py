"""Prometheus metrics, read from the live services at scrape time (no global registry).

Imported at the first scrape (service/web/routes.py: metrics), not at start."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from service.scale_out.redis_health import TASKS, RedisHealth

if TYPE_CHECKING:
    from service.runtime import Services


class ServicesCollector(Collector):
    def __init__(self, services: Services) -> None:
        self._svc = services

    def collect(self) -> Iterator[Metric]:
        svc = self._svc
        yield GaugeMetricFamily("sidecar_open_streams", "Open event streams", value=svc.gauge.open)
        yield GaugeMetricFamily("sidecar_run_watches", "Runs being watched", value=len(svc.hub))
        yield GaugeMetricFamily("sidecar_cache_entries", "Read cache entries", value=len(svc.cache))
        yield CounterMetricFamily("sidecar_polls", "Upstream polls by watches", value=svc.hub.polls)
        if svc.link is not None:
            yield GaugeMetricFamily(
                "sidecar_redis_up",
                "1 while replicas share state over Redis, 0 while this one runs locally",
                value=int(svc.link.up),
            )
            yield from redis_health(svc.link.health)
        hits = CounterMetricFamily("sidecar_cache_lookups", "Read cache lookups", labels=["result"])
        hits.add_metric(["hit"], svc.cache.hits)
        hits.add_metric(["miss"], svc.cache.misses)
        yield hits
        calls = CounterMetricFamily(
            "sidecar_upstream_requests", "Jobs API requests", labels=["verb", "status"]
        )
        for (verb, status), count in sorted(svc.client.calls.items()):
            calls.add_metric([verb, status], count)
        yield calls
        yield GaugeMetricFamily(
            "sidecar_caller_stream_places",
            "Stream places held against [limits] streams_per_caller, all callers",
            value=svc.caller_streams.total,
        )
        refused = CounterMetricFamily(
            "sidecar_rate_limited", "Requests refused 429 by a [limits] limit", labels=["limit"]
        )
        for limit in ("read", "trigger"):
            refused.add_metric([limit], svc.limits.refusals[limit])
        refused.add_metric(["streams_per_caller"], svc.caller_streams.refusals)
        yield refused


def redis_health(health: RedisHealth) -> Iterator[Metric]:
    """What went wrong with Redis short of losing the link (service/scale_out/redis_health.py)."""
    yield _counts(
        "sidecar_redis_task_restarts",
        "Background Redis tasks that crashed and were restarted (lease: the run went local)",
        "task",
        {task: health.restarts[task] for task in TASKS},
    )
    yield _counts(
        "sidecar_redis_refused",
        "Redis calls Redis refused (OutOfMemoryError at maxmemory, ...), done locally instead",
        "error",
        dict(sorted(health.refused.items())),
    )
    yield _counts(
        "sidecar_redis_rejected",
        "Values read from Redis that did not fit their schema, dropped or read as a miss",
        "what",
        dict(sorted(health.rejected.items())),
    )
    yield GaugeMetricFamily(
        "sidecar_redis_degraded",
        "1 after a refused call or a crashed task in the last minute (see /readyz)",
        value=int(health.degraded),
    )


def _counts(name: str, help_text: str, label: str, counts: Mapping[str, int]) -> Metric:
    """One counter family, a sample per value of its one label."""
    family = CounterMetricFamily(name, help_text, labels=[label])
    for value, count in counts.items():
        family.add_metric([value], count)
    return family


def registry_for(services: Services) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServicesCollector(services))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
