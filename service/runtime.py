"""The process's resources, opened and closed together: HTTP client, cache, pollers, streams."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio
import httpx
import msgspec
from anyio.abc import TaskGroup

from service.basics.clock import Clock, LoopClock
from service.cache.read_cache import ReadCache
from service.front_door.rate_limits import RateLimits
from service.front_door.stream_quota import CallerStreams
from service.jobs.all_runs import AllRuns
from service.jobs.operations import JobOperations
from service.jobs.repairs import Repairs
from service.jobs.triggers import Triggers
from service.jobs.users import UserDirectory
from service.runs.follow import Following, follow
from service.runs.hub import Hub
from service.runs.streams import StreamGauge
from service.scale_out.redis_tasks import supervise
from service.scale_out.wiring import cache_store, key_memory, open_link, trigger_counts
from service.scale_out.wiring import hub as open_hub
from service.settings.config import JobSettings, Settings, Workspace
from service.upstream.auth import BearerAuth, Identity, OAuthM2MAuth, service_principal
from service.upstream.client import JobsClient
from service.upstream.retry import RetryBudget, RetryPolicy, drop_stamina_log_hooks
from service.upstream.tokens import TOKEN_TIMEOUT_S, TokenEndpoint

if TYPE_CHECKING:  # redis-py is imported only with REDIS_URL (service.scale_out.wiring)
    from service.scale_out.redis_link import RedisLink


class Services(msgspec.Struct, frozen=True, kw_only=True):
    """What handlers and the Python API reach, through one typed accessor."""

    settings: Settings
    clock: Clock
    client: JobsClient
    cache: ReadCache
    ops: JobOperations
    hub: Hub
    gauge: StreamGauge
    limits: RateLimits  # [limits] read and trigger, per caller
    caller_streams: CallerStreams  # [limits] streams_per_caller
    service_principal: Identity
    users: UserDirectory
    draining: asyncio.Event
    stopping: asyncio.Event  # SIGTERM seen: readiness fails (draining follows drain_delay_ms later)
    tasks: TaskGroup
    repairs: Repairs  # runs/repair once per Idempotency-Key (service.jobs.repairs)
    all_runs: AllRuns  # the runs of several jobs at once (service.jobs.all_runs)
    link: RedisLink | None = (
        None  # REDIS_URL set: what the replicas share (service.scale_out.wiring)
    )

    async def follow_new_run(self, job: JobSettings, identity: Identity, run_id: int) -> Following:
        """Follow a run just triggered, until it ends or the job's wait timeout (run-and-wait)."""
        following = await follow(
            job,
            identity,
            run_id,
            hub=self.hub,
            ops=self.ops,
            clock=self.clock,
            wait_timeout_ms=job.wait_timeout_ms,
            started=True,
        )
        assert following is not None  # noqa: S101 - only a resume can have seen everything
        return following

    async def follow_run(
        self, job: JobSettings, identity: Identity, run_id: int, last_event_id: str | None
    ) -> Following | None:
        """Watch an existing run (no time limit); None when the client has its final event."""
        return await follow(
            job,
            identity,
            run_id,
            hub=self.hub,
            ops=self.ops,
            clock=self.clock,
            last_event_id=last_event_id,
        )


def workspace_auth(
    workspace: Workspace, clock: Clock, http: httpx.AsyncClient, *, timeout_s: float
) -> httpx.Auth:
    """The service principal's credentials; OAuth tokens come through `http` itself, each
    request cut at `timeout_s` like any other upstream request."""
    if workspace.auth_type == "oauth-m2m":
        assert workspace.client_id  # noqa: S101 - config checked
        assert workspace.client_secret  # noqa: S101 - config checked
        endpoint = TokenEndpoint(
            http,
            workspace.host,
            workspace.client_id,
            workspace.client_secret.value,
            clock=clock,
            timeout_s=min(TOKEN_TIMEOUT_S, timeout_s),
        )
        return OAuthM2MAuth(endpoint, clock=clock)
    assert workspace.token  # noqa: S101 - config checked
    return BearerAuth(workspace.token.value)


@asynccontextmanager
async def open_services(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Clock | None = None,
    draining: asyncio.Event | None = None,
    stopping: asyncio.Event | None = None,
) -> AsyncIterator[Services]:
    """Open every resource for the block; on exit, streams end and loops are cancelled."""
    clock = clock or LoopClock()
    draining = draining or asyncio.Event()
    raised: Exception | None = None
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
    async with (
        open_link(settings, clock) as link,
        httpx.AsyncClient(
            base_url=settings.workspace.host,
            transport=transport,
            timeout=settings.timeout_ms / 1000,
            limits=limits,
            headers={"User-Agent": "jobs-sidecar/0.1", "Accept": "application/json"},
            follow_redirects=False,
        ) as http,
        anyio.create_task_group() as tasks,
    ):
        if link is not None:
            # The circuit (service/scale_out/redis_link.py), for as long as the link is open:
            # started here, where the link opens, in the task group that ends before the link
            # closes.
            circuit = link
            tasks.start_soon(
                supervise, link.health, clock, "circuit", lambda: circuit.keep_checking(clock)
            )
        drop_stamina_log_hooks()  # our policy writes its own retry line
        budget = RetryBudget(clock)
        policy = RetryPolicy(clock, budget, attempt_timeout_s=settings.timeout_ms / 1000)
        client = JobsClient(http, policy, max_reply_bytes=settings.max_upstream_bytes)
        cache = ReadCache(
            clock,
            max_entries=settings.cache_max_entries,
            store=cache_store(link, clock, settings, tasks),
        )
        keys = key_memory(link, clock, settings)
        triggers = Triggers(client, keys, clock, grace_s=settings.shutdown_grace_ms / 1000)
        ops = JobOperations(settings, client, cache, triggers)
        hub = open_hub(link, ops, settings, clock, tasks)
        services = Services(
            settings=settings,
            clock=clock,
            client=client,
            cache=cache,
            ops=ops,
            hub=hub,
            gauge=StreamGauge(settings.max_streams),
            limits=RateLimits(
                settings.limits,
                {k: j.limits for k, j in settings.jobs.items()},
                triggers=trigger_counts(link),
            ),
            caller_streams=CallerStreams(settings.limits.streams_per_caller),
            service_principal=service_principal(
                workspace_auth(
                    settings.workspace, clock, http, timeout_s=settings.timeout_ms / 1000
                )
            ),
            users=UserDirectory(client, clock, max_entries=settings.cache_max_entries),
            draining=draining,
            stopping=stopping or asyncio.Event(),
            tasks=tasks,
            repairs=Repairs(client, keys, cache),
            all_runs=AllRuns(settings, client, cache),
            link=link,
        )
        tasks.start_soon(_close_streams_on_drain, services)
        tasks.start_soon(triggers.cut_on_drain, draining)
        try:
            yield services
        except Exception as exc:
            # Raised by the block (`jobs("etll")` in `async with Jobs.open(...)`): kept from
            # the task group, which would wrap it in an ExceptionGroup that `except UnknownJob`
            # does not catch, and raised as itself once the group has closed.
            raised = exc
        finally:
            hub.close_all()
            tasks.cancel_scope.cancel()
    if raised is not None:
        raise raised


async def _close_streams_on_drain(services: Services) -> None:
    await services.draining.wait()
    services.hub.close_all()
