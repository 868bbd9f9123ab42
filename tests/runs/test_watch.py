"""A run's watch: its buffer lets a client resume from any event it kept, in full."""

from __future__ import annotations

import msgspec

from service.runs.subscription import End
from service.runs.watch import RunWatch
from service.runtime import open_services
from service.upstream.wire import run_from_raw
from tests.factories import (
    advance,
    make_run,
    make_settings,
    timeline,
    transport,
    upstream_router,
)


async def test_a_client_that_missed_more_than_a_queue_resumes_in_full():
    router = upstream_router()
    steps = [(i * 5.0, "RUNNING" if i % 2 else "PENDING") for i in range(45)]
    steps.append((250.0, "TERMINATED"))
    router.get("/runs/get").mock(side_effect=timeline(steps))
    settings = make_settings(stream_queue=8, stream_buffer=64, poll_max_ms=5000)
    async with open_services(settings, transport=transport(router)) as svc:
        watch = svc.hub.watch(svc.settings.jobs["etl"], svc.service_principal, 555)
        keeper = watch.subscribe()
        first = await keeper.next()
        await advance(120)  # some 24 changes happen while the client is away
        resumed = watch.subscribe(first.id)
        items = []
        while not isinstance(item := await resumed.next(), End):
            items.append(item)
        assert item.reason == "done"
        assert [i.seq for i in items] == list(range(2, items[-1].seq + 1))


def snapshot(state: str, result: str | None = None):
    return run_from_raw(msgspec.Raw(msgspec.json.encode(make_run(555, state=state, result=result))))


def finished_watch(svc):
    watch = RunWatch(svc.settings.jobs["etl"], svc.service_principal, 555, svc.settings, svc.clock)
    watch.observe(snapshot("RUNNING"))
    watch.observe(snapshot("TERMINATED", "FAILED"))
    return watch


async def test_a_reopened_watch_shows_no_old_end_and_numbers_on_from_it():
    async with open_services(make_settings(), transport=transport(upstream_router())) as svc:
        watch = finished_watch(svc)
        final = watch.latest
        watch.reopen()
        fresh, resumed = watch.subscribe(), watch.subscribe(final.id)
        watch.observe(snapshot("RUNNING"))
        assert ((await fresh.next()).seq, (await resumed.next()).seq) == (3, 3)
    assert (watch.done, watch.reopened_after, final.seq) == (False, final.id, 2)


async def test_a_reopened_watch_wakes_its_retained_loop_and_a_stale_one_does_not():
    async with open_services(make_settings(), transport=transport(upstream_router())) as svc:
        watch = finished_watch(svc)
        assert await watch.wait_reopened(1.0) is False
        watch.reopen()
        assert await watch.wait_reopened(1.0) is True
        assert await watch.wait_reopened(1.0) is False  # one reopen, one wake-up


async def test_a_watch_tells_a_snapshot_that_changes_something_from_one_that_does_not():
    async with open_services(make_settings(), transport=transport(upstream_router())) as svc:
        watch = finished_watch(svc)
        assert watch.changed_by(snapshot("TERMINATED", "FAILED")) is False
        assert watch.changed_by(snapshot("TERMINATED", "SUCCESS")) is True


async def test_a_client_ahead_of_this_replica_gets_no_older_event_nor_its_own_again():
    """Across replicas one may relay an event later than another: a client holding `E-2` that
    resumes where only `E-1` has come yet must not be shown `E-1` again (the soak saw `E-1`,
    `E-2`, `E-1`), nor `E-2` when it comes; it gets `E-3` on."""
    settings = make_settings()
    async with open_services(settings, transport=transport(upstream_router())) as svc:
        holder = RunWatch(svc.settings.jobs["etl"], svc.service_principal, 555, settings, svc.clock)
        holder.observe(snapshot("PENDING"))
        holder.observe(snapshot("RUNNING"))
        holder.observe(snapshot("TERMINATED", "SUCCESS"))
        first, second, third = holder.buffer
        late = RunWatch(svc.settings.jobs["etl"], svc.service_principal, 555, settings, svc.clock)
        late.relay(first)
        resumed = late.subscribe(second.id)
        late.relay(second)
        late.relay(third)
        got = []
        while not isinstance(item := await resumed.next(), End):
            got.append(item.id)
    assert got == [third.id]
    assert item.reason == "done"


async def test_a_client_ahead_in_an_epoch_this_watch_left_gets_only_what_came_after_it():
    """A replica that went on alone (Redis lost: `renumber`) before it relayed `E-2`: a client
    holding `E-2` gets the new epoch's events, never `E-1` again (the soak saw `E-1`, `E-2`,
    `E-1`, then the new epoch)."""
    settings = make_settings()
    async with open_services(settings, transport=transport(upstream_router())) as svc:
        job, principal = svc.settings.jobs["etl"], svc.service_principal
        holder = RunWatch(job, principal, 555, settings, svc.clock)
        holder.observe(snapshot("PENDING"))
        holder.observe(snapshot("RUNNING"))
        first, second = holder.buffer
        alone = RunWatch(job, principal, 555, settings, svc.clock)
        alone.relay(first)
        alone.renumber("0000000a")
        before = alone.subscribe(second.id)
        alone.observe(snapshot("RUNNING"))
        after = alone.subscribe(second.id)
        alone.observe(snapshot("TERMINATED", "SUCCESS"))
        got = []
        for sub in (before, after):
            ids = []
            while not isinstance(item := await sub.next(), End):
                ids.append(item.id)
            got.append(ids)
    assert got == [["0000000a-1", "0000000a-2"], ["0000000a-1", "0000000a-2"]]
