"""The read cache's entries in Redis, shared by every replica: aiocache's `RedisCache`.

Keys are `<prefix>:cache:<job>:<call>:<identity>:<arguments>`, so one user's result never
serves another, and a trigger or cancel on any replica forgets a job's calls for everyone
(`clear(namespace=...)` per call). Values are our own encoding, not pickle: whoever can write
to Redis must not be able to run code here. While Redis is down, `FailoverStore` keeps entries
in this process (the `MemoryStore`, which also keeps near copies for a second while Redis is
up); when it is back, the shared entries are cleared once (writes made meanwhile were not seen
there) and shared again. What Redis hands back is checked before use: an entry that does not
decode is a miss, and a `forget` message that is not `<job>\x1f<call>,<call>...` is dropped.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Set
from typing import Any

import msgspec
import redis.asyncio as redis
from aiocache import RedisCache
from aiocache.serializers import BaseSerializer
from redis.connection import parse_url
from redis.exceptions import RedisError

from service.cache_key import CacheKey
from service.cache_store import MemoryStore
from service.clock import Clock
from service.redis_link import BLOCK_MS, PROBE_S, RedisDown, RedisLink
from service.upstream.wire import RunSnapshot, run_from_raw

_Encoded = tuple[str, msgspec.Raw]
NEAR_TTL_S = 1.0  # the longest a replica serves its own copy of a shared entry
# A job key (as service/config.py allows them), then up to 16 call names (service/operations.py).
_FORGET = re.compile(r"([A-Za-z0-9_-]{1,255})\x1f([a-z_]{1,32}(?:,[a-z_]{1,32}){0,15})")


# What each call of service/operations.py caches: an entry of another shape under its key (a
# foreign one, say) is a miss, not a value its caller cannot use (a 500).
_HOLDS: dict[str, tuple[type, ...]] = {
    "get_run": (RunSnapshot,),
    "last_run": (RunSnapshot, type(None)),
    "list_runs": (tuple,),
    "get_job": (msgspec.Raw,),
    "get_run_output": (msgspec.Raw,),
}


def forget_message(job: str, calls: Set[str]) -> str:
    return f"{job}\x1f{','.join(sorted(calls))}"


def read_forget(data: object) -> tuple[str, set[str]] | None:
    """A `forget` message as (job, calls); None for anything else (whoever can publish on the
    channel can send any bytes: invalid UTF-8 once ended every replica's lifespan)."""
    if not isinstance(data, bytes):
        return None
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return None
    match = _FORGET.fullmatch(text)
    return None if match is None else (match[1], set(match[2].split(",")))


class ValueCodec(BaseSerializer):  # type: ignore[misc]
    """What the read tier caches (a run snapshot, a JSON value, a tuple of them, or None), as
    bytes; `loads` answers `(value,)` so a cached None is still a hit, and None for no entry."""

    DEFAULT_ENCODING = None  # bytes in, bytes out
    _encoder = msgspec.json.Encoder()

    def __init__(self, on_reject: Callable[[], None]) -> None:
        super().__init__()
        self._on_reject = on_reject  # a value not ours: counted and logged, read as a miss

    def dumps(self, value: object) -> bytes:
        if value is None:
            return self._encoder.encode(("none", None))
        if isinstance(value, RunSnapshot):
            return self._encoder.encode(("snapshot", value.raw))
        if isinstance(value, msgspec.Raw):
            return self._encoder.encode(("raw", value))
        if isinstance(value, tuple) and all(isinstance(v, msgspec.Raw) for v in value):
            return self._encoder.encode(("raws", value))
        raise TypeError(f"the shared cache does not hold {type(value).__name__}")

    def loads(self, value: bytes | None) -> tuple[object] | None:
        if value is None:
            return None
        try:
            kind, payload = msgspec.json.decode(value, type=_Encoded)
            if kind == "snapshot":
                return (run_from_raw(payload),)
            if kind == "raw":
                return (payload,)
            if kind == "raws":
                return (tuple(msgspec.json.decode(payload, type=list[msgspec.Raw])),)
            if kind == "none" and bytes(payload) == b"null":
                return (None,)
        except (msgspec.DecodeError, msgspec.ValidationError):
            pass
        self._on_reject()  # not ours, or written by another version: a miss, read afresh
        return None


def redis_cache(link: RedisLink) -> RedisCache:
    """aiocache's Redis backend on the link's Redis, with the link's short timeouts."""
    options: dict[str, Any] = parse_url(link.url)  # type: ignore[no-untyped-call]
    if options.pop("connection_class", None) is not None:
        options["ssl"] = True  # rediss://
    timeout = link.timeout_s
    return RedisCache(
        serializer=ValueCodec(lambda: link.health.rejection("cache")),
        namespace=link.key("cache"),
        endpoint=options.pop("host", "127.0.0.1"),
        port=options.pop("port", 6379),
        db=options.pop("db", 0),
        password=options.pop("password", None),
        ssl=options.pop("ssl", False),
        create_connection_timeout=timeout,
        connection_pool_kwargs={**options, "socket_timeout": timeout},
        timeout=timeout,
    )


class FailoverStore:
    """Redis behind a near copy in this process; the near copy alone while Redis is down.

    Why a near copy: a cached read served from Redis costs a round trip (~0.1 ms, and Redis's
    CPU), which made two workers slower than one on two cores. Each replica keeps what it read
    for at most `NEAR_TTL_S`, and every `forget` is also published, so each replica drops its
    copies at once; a message lost with the connection costs at most that second (and the
    link going down and up clears them all).
    """

    def __init__(self, link: RedisLink, local: MemoryStore) -> None:
        self._link = link
        self._local = local
        self._shared = redis_cache(link)
        self._channel = link.key("cache-forget")
        link.on_rejoin(self._rejoined)
        # Not `RedisCache.close()`: aiocache 0.12 calls redis-py's deprecated `close()` there.
        link.on_close(self._shared.client.aclose)

    def _split(self, key: CacheKey) -> tuple[str, str]:
        """(name, namespace): a job's call is one namespace, so `forget` clears it whole."""
        identity, job, call, args = key
        return f"{identity}:{args}", self._link.key("cache", job, call)

    async def get(self, key: CacheKey) -> tuple[object] | None:
        near = await self._local.get(key)
        if near is not None or not self._link.up:
            return near
        name, namespace = self._split(key)
        try:
            found: tuple[object] | None = await self._link.run(
                lambda _: self._shared.get(name, namespace=namespace)
            )
        except RedisDown:
            return None
        if found is None:
            return None
        if not isinstance(found[0], _HOLDS.get(key.call, object)):
            self._link.health.rejection("cache")
            return None
        await self._local.set(key, found[0], NEAR_TTL_S)
        return found

    async def set(self, key: CacheKey, value: object, ttl_s: float) -> None:
        if ttl_s <= 0:
            return
        if self._link.up:
            name, namespace = self._split(key)
            try:
                await self._link.run(
                    lambda _: self._shared.set(name, value, ttl=float(ttl_s), namespace=namespace)
                )
            except RedisDown:
                pass
            else:
                await self._local.set(key, value, min(ttl_s, NEAR_TTL_S))
                return
        await self._local.set(key, value, ttl_s)  # local mode: the whole TTL

    async def forget(self, job: str, calls: Set[str]) -> None:
        """Forget `calls` of `job` here, in Redis, and in every replica's near copies."""
        await self._local.forget(job, calls)
        if not self._link.up:
            return
        message = forget_message(job, calls)
        namespaces = [self._link.key("cache", job, call) for call in sorted(calls)]

        async def clear(client: redis.Redis) -> None:
            for namespace in namespaces:
                await self._shared.clear(namespace=namespace)
            await client.publish(self._channel, message)

        with contextlib.suppress(RedisDown):
            await self._link.run(clear)

    async def listen(self, clock: Clock) -> None:
        """Drop near copies that another replica's write made stale (the `forget` messages).

        Run under `service.redis_tasks.supervise`: whatever it did not foresee restarts it."""
        while True:
            if not self._link.up:
                await clock.sleep(PROBE_S)
                continue
            pubsub = self._link.reader.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel)
                while self._link.up:
                    message = await pubsub.get_message(timeout=BLOCK_MS / 1000)
                    if message is not None:
                        await self._forget_for(message.get("data"))
            except (RedisError, OSError) as exc:
                self._link.failed(exc)
                await clock.sleep(PROBE_S)  # a refusal leaves the link up: not at once again
            finally:
                await pubsub.aclose()

    async def _forget_for(self, data: object) -> None:
        forget = read_forget(data)
        if forget is None:
            self._link.health.rejection("forget")
            return
        await self._local.forget(*forget)

    async def _rejoined(self) -> None:
        """What Redis and the near copies hold may predate writes made while it was away."""
        self._local.clear()
        await self._shared.clear(namespace=self._link.key("cache"))

    def __len__(self) -> int:
        """Entries held in this process (near copies, or all while Redis is down)."""
        return len(self._local)
