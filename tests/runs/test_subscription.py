"""A watcher's subscription: events in order, a bounded queue that drops a slow watcher, an end."""

from __future__ import annotations

import asyncio

import msgspec

from service.runs.events import RunEvent, make_event
from service.runs.subscription import End, Subscription
from service.upstream.wire import decode_run
from tests.factories import make_run


def events(count: int) -> list[RunEvent]:
    run = decode_run(msgspec.json.encode(make_run(555)))
    return [make_event("w1", seq, run, timestamp=seq) for seq in range(1, count + 1)]


def subscription(size: int) -> Subscription:
    return Subscription(size)


async def test_events_come_out_in_order_then_the_end():
    sub = subscription(size=4)
    for event in events(3):
        sub.offer(event)
    sub.offer(End("done"))
    items = [await sub.next() for _ in range(4)]
    assert [i.seq for i in items[:3]] == [1, 2, 3]
    assert isinstance(items[3], End)
    assert (items[3].reason, items[3].error) == ("done", None)
    assert sub.ended


async def test_a_watcher_waiting_for_the_next_event_is_woken_by_it():
    sub = subscription(size=4)
    waiting = asyncio.create_task(sub.next())
    await asyncio.sleep(0)
    assert not waiting.done()
    (event,) = events(1)
    sub.offer(event)
    assert await waiting is event


async def test_a_watcher_that_falls_a_queue_behind_is_dropped_with_an_error():
    sub = subscription(size=2)
    for event in events(3):
        sub.offer(event)
    sub.offer(End("done"))  # nothing is taken after the end
    item = await sub.next()
    assert isinstance(item, End)
    assert item.reason == "dropped"
    assert item.error is not None
    assert item.error.status == 503
    assert sub.ended


async def test_events_replayed_on_resume_do_not_count_against_the_queue():
    sub = subscription(size=2)
    missed, live = events(7)[:5], events(7)[5:]
    sub.preload(missed)
    for event in live:
        sub.offer(event)
    sub.offer(End("done"))
    items = [await sub.next() for _ in range(8)]
    assert [i.seq for i in items[:7]] == [1, 2, 3, 4, 5, 6, 7]
    assert isinstance(items[7], End)
    assert items[7].reason == "done"
