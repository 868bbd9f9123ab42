"""The idempotency memory in Redis: a key's first use is seen by every replica, for its TTL.

`reserve` is one `SET NX GET` (the standing use, or ours written in the same step), so two
replicas given the same key at once agree on one digest; `remember` adds the run id only to the
use it reserved (a script compares and writes in one step, keeping the TTL). While Redis is
down, the replica's `LocalKeyMemory` answers; the run-now token still reaches the run the
Jobs API remembers, so a retry on another replica never starts a second run.
"""

from __future__ import annotations

from typing import cast

import msgspec

from service.idempotency import KeyUse, LocalKeyMemory
from service.redis_link import RedisDown, RedisLink

_REMEMBER = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL') end return 0"
)
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(KeyUse)


class RedisKeyMemory:
    """`KeyMemory` over Redis, with the local memory while the link is down."""

    def __init__(self, link: RedisLink, local: LocalKeyMemory, *, ttl_s: float) -> None:
        self._link = link
        self._local = local
        self._ttl_ms = max(1, round(ttl_s * 1000))

    def _key(self, scope: str) -> str:
        return self._link.key("idem", scope)

    async def reserve(self, scope: str, digest: str) -> KeyUse:
        use = KeyUse(digest=digest)
        try:
            standing = await self._link.run(
                lambda c: c.set(
                    self._key(scope), _encoder.encode(use), nx=True, px=self._ttl_ms, get=True
                )
            )
        except RedisDown:
            return await self._local.reserve(scope, digest)
        return use if standing is None else _decoder.decode(cast(bytes, standing))

    async def remember(self, scope: str, digest: str, run_id: int) -> None:
        reserved = _encoder.encode(KeyUse(digest=digest))
        done = _encoder.encode(KeyUse(digest=digest, run_id=run_id))
        try:
            await self._link.run(lambda c: c.eval(_REMEMBER, 1, self._key(scope), reserved, done))
        except RedisDown:
            await self._local.remember(scope, digest, run_id)
