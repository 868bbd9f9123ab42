"""open_services: every resource opened for one block, and closed with it."""

from __future__ import annotations

import asyncio

import httpx

from service.runs.subscription import End
from service.runtime import open_services
from tests.factories import (
    HOST,
    TOKEN,
    advance,
    m2m_settings,
    make_run,
    make_settings,
    transport,
    upstream_router,
)


def running_forever():
    router = upstream_router()
    polls = router.get("/runs/get").respond(json=make_run(555, state="RUNNING"))
    return router, polls


async def test_leaving_the_block_ends_every_watcher_and_stops_its_polls():
    router, polls = running_forever()
    async with open_services(make_settings(), transport=transport(router)) as svc:
        sub = svc.hub.watch(svc.settings.jobs["etl"], svc.service_principal, 555).subscribe()
        assert (await sub.next()).status == "RUNNING"
    end = await sub.next()
    calls = polls.call_count
    await advance(600)
    assert isinstance(end, End)
    assert end.reason == "shutdown"
    assert polls.call_count == calls  # no loop outlives the block


async def test_draining_ends_open_watchers_while_the_block_goes_on():
    router, _ = running_forever()
    draining = asyncio.Event()
    async with open_services(
        make_settings(), transport=transport(router), draining=draining
    ) as svc:
        sub = svc.hub.watch(svc.settings.jobs["etl"], svc.service_principal, 555).subscribe()
        await sub.next()
        draining.set()
        end = await sub.next()
        assert isinstance(end, End)
        assert end.reason == "shutdown"
        run = await svc.ops.get_run(svc.settings.jobs["etl"], svc.service_principal, 555)
        assert run.run.run_id == 555  # reads are still served


async def test_calls_carry_the_personal_access_token_and_our_user_agent():
    router, polls = running_forever()
    async with open_services(make_settings(), transport=transport(router)) as svc:
        await svc.ops.get_run(svc.settings.jobs["etl"], svc.service_principal, 555)
    headers = polls.calls.last.request.headers
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert headers["user-agent"].startswith("jobs-sidecar/")
    assert headers["accept"] == "application/json"


async def test_with_oauth_m2m_the_service_principal_s_token_comes_from_the_workspace():
    router, polls = running_forever()

    def route(request: httpx.Request):
        if request.url.path == "/oidc/v1/token":
            return httpx.Response(200, json={"access_token": "m2m-1", "expires_in": 3600})
        return router.handler(request)

    async with open_services(m2m_settings(), transport=httpx.MockTransport(route)) as svc:
        await svc.ops.get_run(svc.settings.jobs["etl"], svc.service_principal, 555)
    assert str(polls.calls.last.request.url).startswith(HOST)
    assert polls.calls.last.request.headers["authorization"] == "Bearer m2m-1"
