"""follow(): one way to watch a run to its end, for routes and the Python API alike."""

from __future__ import annotations

from service.basics.callers import PROGRAM
from service.runs.follow import follow
from service.runs.subscription import End
from service.runtime import open_services
from tests.factories import advance, make_settings, timeline, transport, upstream_router


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


class RepairedRun:
    """runs/get of run 555: its state at each loop time, and again from a repair on."""

    def __init__(self, first: list[tuple[float, str]]) -> None:
        self.steps = first

    def repair_at(self, steps: list[tuple[float, str]]) -> None:
        self.steps = steps

    def respond(self, request):
        return timeline(self.steps)(request)


async def repair(svc):
    """A repair through the service, as the route makes it (the run's reads made fresh)."""
    job = svc.settings.jobs["etl"]
    fields = {"rerun_all_failed_tasks": True}
    return await svc.repairs.repair(job, svc.service_principal, 555, fields, None, caller=PROGRAM)


async def test_a_repaired_run_is_followed_again_with_its_event_ids_going_on():
    run = RepairedRun([(0, "PENDING"), (12, "INTERNAL_ERROR")])
    router = upstream_router()
    router.get("/runs/get").mock(side_effect=run.respond)
    router.post("/runs/repair").respond(json={"repair_id": 7})
    settings = make_settings(poll_interval_ms=5000)
    async with open_services(settings, transport=transport(router)) as svc:
        seen, _ = await drain(await follow_etl(svc, started=True))
        await advance(10)
        await repair(svc)
        run.repair_at([(0, "RUNNING"), (40, "TERMINATED")])
        resumed, end = await drain(await follow_etl(svc, last_event_id=seen[-1].id))
    epoch = seen[0].id.rsplit("-", 1)[0]
    assert [e.status for e in seen] == ["PENDING", "INTERNAL_ERROR"]
    assert [e.status for e in resumed] == ["RUNNING", "TERMINATED"]
    assert [e.id for e in seen + resumed] == [f"{epoch}-{n}" for n in (1, 2, 3, 4)]
    assert end.reason == "done"


async def test_a_new_watcher_of_a_repaired_run_is_not_shown_the_old_end():
    run = RepairedRun([(0, "PENDING"), (12, "INTERNAL_ERROR")])
    router = upstream_router()
    router.get("/runs/get").mock(side_effect=run.respond)
    router.post("/runs/repair").respond(json={"repair_id": 7})
    settings = make_settings(poll_interval_ms=5000)
    async with open_services(settings, transport=transport(router)) as svc:
        await drain(await follow_etl(svc, started=True))
        await advance(10)
        await repair(svc)
        run.repair_at([(0, "RUNNING"), (40, "TERMINATED")])
        fresh, _ = await drain(await follow_etl(svc))
    assert [e.status for e in fresh] == ["RUNNING", "TERMINATED"]


async def test_a_finished_run_not_repaired_is_replayed_as_it_ended():
    router = router_for_a_run()
    settings = make_settings(poll_interval_ms=5000)
    async with open_services(settings, transport=transport(router)) as svc:
        seen, _ = await drain(await follow_etl(svc, started=True))
        again, end = await drain(await follow_etl(svc))
        assert await follow_etl(svc, last_event_id=seen[-1].id) is None
    assert [e.id for e in again] == [seen[-1].id]
    assert end.reason == "done"


async def test_a_stale_read_of_a_finished_run_does_not_reopen_it():
    """A read cached while the run still ran (short TTL) is no repair: a watcher resuming just
    after the end gets the final event once, not RUNNING and the end again (the soak found
    1 session in 1,440 with its final event twice)."""
    router = upstream_router()
    steps = [(0, "PENDING"), (5, "RUNNING"), (10.8, "TERMINATED")]
    router.get("/runs/get").mock(side_effect=timeline(steps))
    settings = make_settings(poll_interval_ms=5000, cache_ttl_ms=5000)
    async with open_services(settings, transport=transport(router)) as svc:
        first = await follow_etl(svc, started=True)
        seen = [await first.next(), await first.next()]  # polled at 1 s and 6 s
        await advance(4.5)  # a read at 10.5 s, cached for 5 s: the run still runs
        stale = await svc.ops.get_run(svc.settings.jobs["etl"], svc.service_principal, 555)
        rest, _ = await drain(first)  # TERMINATED, polled at 11 s
        seen += rest
        resumed, end = await drain(await follow_etl(svc, last_event_id=seen[-2].id))
        fresh, _ = await drain(await follow_etl(svc))
    assert stale.run.life_cycle_state == "RUNNING"
    assert [e.status for e in seen] == ["PENDING", "RUNNING", "TERMINATED"]
    assert [e.id for e in resumed] == [seen[-1].id]
    assert end.reason == "done"
    assert [e.id for e in fresh] == [seen[-1].id]
