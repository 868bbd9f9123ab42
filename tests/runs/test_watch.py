"""A run's watch: its buffer lets a client resume from any event it kept, in full."""

from __future__ import annotations

from service.runs.subscription import End
from service.runtime import open_services
from tests.factories import (
    advance,
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
