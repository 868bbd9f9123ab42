"""The idempotency memory: what each key was first used for, and the run it started, for a day.

`KeyMemory` is the small interface the trigger path needs; `LocalKeyMemory` keeps it in this
process (bounded, expiring on the injected clock). With REDIS_URL the replicas share one,
`RedisKeyMemory` (service/scale_out/redis_key_memory.py), without the trigger path changing: both
calls are async and `reserve` is one atomic step.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Protocol

import msgspec

from service.basics.clock import Clock

DAY_S = 86_400.0


class KeyUse(msgspec.Struct, frozen=True):
    """What a key was first used for: the parameter digest, and the run once it is known."""

    digest: str
    run_id: int | None = None


class KeyMemory(Protocol):
    """Key scope → first use. Scopes are opaque strings (already hashed, no secrets)."""

    async def reserve(self, scope: str, digest: str) -> KeyUse:
        """The standing use of `scope`: the one remembered, else this one (now remembered)."""
        ...

    async def remember(self, scope: str, digest: str, run_id: int) -> None:
        """Record the run that `scope` started with these parameters."""
        ...


class LocalKeyMemory:
    """In-process memory: at most `max_keys` scopes, each kept `ttl_s` from its first use.

    Why bounded: keys come from clients. When full, the oldest key is forgotten early; a reuse
    of it with other parameters then starts a new run (its run-now token covers the
    parameters) rather than being refused, and is never answered with the old run.
    """

    def __init__(self, clock: Clock, *, max_keys: int = 20_000, ttl_s: float = DAY_S) -> None:
        self._clock = clock
        self._max = max_keys
        self._ttl = ttl_s
        # Insertion order is expiry order: every entry lives ttl_s from when it was added.
        self._uses: OrderedDict[str, tuple[float, KeyUse]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._uses)

    async def reserve(self, scope: str, digest: str) -> KeyUse:
        now = self._clock.monotonic()
        self._expire(now)
        standing = self._uses.get(scope)
        if standing is not None:
            return standing[1]
        use = KeyUse(digest=digest)
        self._uses[scope] = (now + self._ttl, use)
        while len(self._uses) > self._max:
            self._uses.popitem(last=False)
        return use

    async def remember(self, scope: str, digest: str, run_id: int) -> None:
        standing = self._uses.get(scope)
        if standing is not None and standing[1].digest == digest:
            self._uses[scope] = (standing[0], KeyUse(digest=digest, run_id=run_id))

    def _expire(self, now: float) -> None:
        while self._uses:
            expires, _ = next(iter(self._uses.values()))
            if expires > now:
                return
            self._uses.popitem(last=False)
