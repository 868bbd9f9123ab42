"""The read cache's entries in Redis, shared by every replica: aiocache's `RedisCache`.

Keys are `<prefix>:cache:<job>:<call>:<identity>:<arguments>`, so one user's result never
serves another, and a trigger or cancel on any replica forgets a job's calls for everyone
(`clear(namespace=...)` per call). Values are our own encoding, not pickle: whoever can write
to Redis must not be able to run code here. While Redis is down, `FailoverStore` keeps entries
in this process (the `MemoryStore`); when it is back, the shared entries are cleared once
(writes made meanwhile were not seen there) and shared again.
"""

from __future__ import annotations

from collections.abc import Set
from typing import Any

import msgspec
from aiocache import RedisCache
from aiocache.serializers import BaseSerializer
from redis.connection import parse_url

from service.cache_key import CacheKey
from service.cache_store import CacheStore, MemoryStore
from service.redis_link import RedisDown, RedisLink
from service.upstream.wire import RunSnapshot, run_from_raw

_Encoded = tuple[str, msgspec.Raw]


class ValueCodec(BaseSerializer):  # type: ignore[misc]
    """What the read tier caches (a run snapshot, a JSON value, a tuple of them, or None), as
    bytes; `loads` answers `(value,)` so a cached None is still a hit, and None for no entry."""

    DEFAULT_ENCODING = None  # bytes in, bytes out
    _encoder = msgspec.json.Encoder()

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
        kind, payload = msgspec.json.decode(value, type=_Encoded)
        if kind == "snapshot":
            return (run_from_raw(payload),)
        if kind == "raw":
            return (payload,)
        if kind == "raws":
            return (tuple(msgspec.json.decode(payload, type=list[msgspec.Raw])),)
        return (None,)


def redis_cache(link: RedisLink) -> RedisCache:
    """aiocache's Redis backend on the link's Redis, with the link's short timeouts."""
    options: dict[str, Any] = parse_url(link.url)  # type: ignore[no-untyped-call]
    if options.pop("connection_class", None) is not None:
        options["ssl"] = True  # rediss://
    timeout = link.timeout_s
    return RedisCache(
        serializer=ValueCodec(),
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
    """Redis while the link is up, this process's `MemoryStore` while it is down."""

    def __init__(self, link: RedisLink, local: MemoryStore) -> None:
        self._link = link
        self._local = local
        self._shared = redis_cache(link)
        link.on_rejoin(self.clear_shared)
        # Not `RedisCache.close()`: aiocache 0.12 calls redis-py's deprecated `close()` there.
        link.on_close(self._shared.client.aclose)

    def _namespace(self, job: str, call: str) -> str:
        return self._link.key("cache", job, call)

    def _split(self, key: CacheKey) -> tuple[str, str]:
        """(name, namespace): a job's call is one namespace, so `forget` clears it whole."""
        identity, job, call, args = key
        return f"{identity}:{args}", self._namespace(job, call)

    async def get(self, key: CacheKey) -> tuple[object] | None:
        if not self._link.up:
            return await self._local.get(key)
        identity, job, call, args = key
        try:
            found = await self._link.run(
                lambda _: self._shared.get(
                    f"{identity}:{args}", namespace=self._namespace(job, call)
                )
            )
        except RedisDown:
            return await self._local.get(key)
        return found  # type: ignore[no-any-return]

    async def set(self, key: CacheKey, value: object, ttl_s: float) -> None:
        if ttl_s <= 0:
            return
        if not self._link.up:
            await self._local.set(key, value, ttl_s)
            return
        identity, job, call, args = key
        try:
            await self._link.run(
                lambda _: self._shared.set(
                    f"{identity}:{args}",
                    value,
                    ttl=float(ttl_s),
                    namespace=self._namespace(job, call),
                )
            )
        except RedisDown:
            await self._local.set(key, value, ttl_s)

    async def forget(self, job: str, calls: Set[str]) -> None:
        """Forget on every replica; locally too (entries kept while Redis was down)."""
        await self._local.forget(job, calls)
        if not self._link.up:
            return
        try:
            for call in sorted(calls):
                namespace = self._namespace(job, call)
                await self._link.run(lambda _, ns=namespace: self._shared.clear(namespace=ns))  # type: ignore[misc]
        except RedisDown:
            pass

    async def clear_shared(self) -> None:
        """On rejoin: what Redis holds may predate writes made while it was away."""
        await self._shared.clear(namespace=self._link.key("cache"))

    def __len__(self) -> int:
        """Entries held in this process (while Redis is down); shared ones are Redis' to count."""
        return len(self._local)


def shared_store(link: RedisLink, local: MemoryStore) -> CacheStore:
    return FailoverStore(link, local)
