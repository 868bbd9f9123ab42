"""follow(): one way to watch a run to its end, for routes and the Python API alike."""

from __future__ import annotations

from service.runs.follow import follow
from service.runs.subscription import End
from service.runtime import open_services
from tests.factories import make_settings, timeline, transport, upstream_router


async def follow_etl(svc, **kw):
    job = svc.settings.jobs["etl"]
    return await follow(
        job, svc.service_principal, 555, hub=svc.hub, ops=svc.ops, clock=svc.clock, **kw
    )


async def drain(following):
    items = []
    while not isinstance(item := await following.next(), End):
        if item is not None:
            items.append(item)
    following.close()
    return items, item


def router_for_a_run():
    router = upstream_router()
    router.get("/runs/get").mock(
        side_effect=timeline([(0, "PENDING"), (12, "RUNNING"), (30, "TERMINATED")])
    )
    return router


async def test_resuming_from_the_start_id_replays_every_event():
    settings = make_settings(poll_interval_ms=5000)
    async with open_services(settings, transport=transport(router_for_a_run())) as svc:
        first = await follow_etl(svc, started=True)
        seen, end = await drain(first)
        again = await follow_etl(svc, last_event_id=first.start_id)
        replayed, _ = await drain(again)
    assert [e.status for e in seen] == ["PENDING", "RUNNING", "TERMINATED"]
    assert end.reason == "done"
    assert [e.id for e in replayed] == [e.id for e in seen]


async def test_a_client_holding_the_final_event_gets_nothing_to_follow():
    settings = make_settings(poll_interval_ms=5000)
    async with open_services(settings, transport=transport(router_for_a_run())) as svc:
        seen, _ = await drain(await follow_etl(svc, started=True))
        assert await follow_etl(svc, last_event_id=seen[-1].id) is None


async def test_a_quiet_line_answers_none_and_the_wait_timeout_ends_with_wait_timeout():
    settings = make_settings(poll_interval_ms=5000)
    async with open_services(settings, transport=transport(router_for_a_run())) as svc:
        following = await follow_etl(svc, started=True, wait_timeout_ms=20000)
        first = await following.next(2.0)  # the first poll comes after a second
        quiet = await following.next(5.0)  # then nothing changes for a while
        items = [first, quiet]
        while not isinstance(items[-1], End):
            items.append(await following.next(5.0))
        following.close()
    assert first is not None
    assert first.status == "PENDING"
    assert quiet is None
    end = items[-1]
    assert end.reason == "timeout"
    assert (end.error.code, end.error.message) == (
        "WAIT_TIMEOUT",
        "Run 555 did not finish within 20000 ms",
    )
