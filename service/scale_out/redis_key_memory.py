"""The idempotency memory in Redis: a key's first use is seen by every replica, for its TTL.

`reserve` is one `SET NX GET` (the standing use, or ours written in the same step), so two
replicas given the same key at once agree on one digest; `remember` adds the run id only to the
use it reserved (a script compares and writes in one step, keeping the TTL). While Redis is
down, the replica's `LocalKeyMemory` answers; the run-now token still reaches the run the
Jobs API remembers, so a retry on another replica never starts a second run.

A record is read against a strict schema (`StoredUse`): one that does not fit (not ours) is a
miss, replaced by ours only if it is still the same bytes. While Redis refuses writes (at its
`maxmemory`) the record is still read: a key already bound in Redis stays bound to its
parameters (a 422 for others), and only a key Redis does not hold is reserved locally.
"""

from __future__ import annotations

import contextlib
from typing import Annotated

import msgspec

from service.jobs.key_memory import KeyUse, LocalKeyMemory
from service.scale_out.redis_link import RedisDown, RedisLink, RedisRefused

_REMEMBER = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL') end return 0"
)
# Replace a record that did not fit, if nobody has replaced it meanwhile.
_REPLACE = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end return 0"
)


class StoredUse(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A `KeyUse` as this module writes it: a SHA-256 digest (a repair's adds `:` and the repair
    it was based on, service.jobs.repairs), and the run (or repair) once known."""

    digest: Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}(:[0-9]{1,19})?$")]
    run_id: Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)] | None = None


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(StoredUse)


class RedisKeyMemory:
    """`KeyMemory` over Redis, with the local memory while the link is down."""

    def __init__(self, link: RedisLink, local: LocalKeyMemory, *, ttl_s: float) -> None:
        self._link = link
        self._local = local
        self._ttl_ms = max(1, round(ttl_s * 1000))

    def _key(self, scope: str) -> str:
        return self._link.key("idem", scope)

    async def reserve(self, scope: str, digest: str) -> KeyUse:
        key = self._key(scope)
        ours = _encoder.encode(KeyUse(digest=digest))
        try:
            standing = await self._link.run(
                lambda c: c.set(key, ours, nx=True, px=self._ttl_ms, get=True)
            )
            if standing is None:
                return KeyUse(digest=digest)
            found = self._decoded(standing)
            if found is not None:
                return found
            # Not ours: a miss. Ours from now on, unless it changed since we read it.
            replaced = await self._link.run(
                lambda c: c.eval(_REPLACE, 1, key, standing, ours, self._ttl_ms)
            )
            if replaced:
                return KeyUse(digest=digest)
        except RedisRefused:
            return await self._reserve_read_only(scope, digest)
        except RedisDown:
            pass
        return await self._local.reserve(scope, digest)

    async def remember(self, scope: str, digest: str, run_id: int) -> None:
        reserved = _encoder.encode(KeyUse(digest=digest))
        done = _encoder.encode(KeyUse(digest=digest, run_id=run_id))
        # Here too, if it was reserved here (while Redis was down, or refused the write).
        await self._local.remember(scope, digest, run_id)
        with contextlib.suppress(RedisDown):
            await self._link.run(lambda c: c.eval(_REMEMBER, 1, self._key(scope), reserved, done))

    async def _reserve_read_only(self, scope: str, digest: str) -> KeyUse:
        """Redis refused the write (OOM): what it holds still binds the key; else local."""
        try:
            standing = await self._link.run(lambda c: c.get(self._key(scope)))
        except RedisDown:
            standing = None
        found = None if standing is None else self._decoded(standing)
        return found if found is not None else await self._local.reserve(scope, digest)

    def _decoded(self, standing: object) -> KeyUse | None:
        try:
            stored = _decoder.decode(standing if isinstance(standing, bytes) else b"")
        except msgspec.DecodeError:  # ValidationError included
            self._link.health.rejection("idempotency")
            return None
        return KeyUse(digest=stored.digest, run_id=stored.run_id)
