"""One run's shared state in Redis: its epoch, its stream of events, its poll lease, its watchers.

Keys (`<prefix>:run:<run id>:<identity hash>:...`, the identity hashed so keys stay short):

    epoch     the watch's epoch, made once (SET NX) by whoever comes first; every replica
              numbers events `<epoch>-<seq>` with it, so an id means the same on each
    events    a Redis Stream, one entry per change (epoch, seq, timestamp, the run's raw JSON),
              trimmed to about `stream_buffer` entries (XADD MAXLEN ~)
    lease     the replica that polls (SET NX PX); renewed by its holder, and written only
              while held (a script checks the holder and appends in one step)
    watchers  a sorted set: replica id -> when its heartbeat expires (Redis' own clock)
    polled    when the run was last polled, so a new holder keeps to the poll floor

Everything but the lease lives `RETAIN_FINISHED_S` past its last refresh, for late resumes.
"""

from __future__ import annotations

import hashlib
from typing import cast

import msgspec
import redis.asyncio as redis

from service.redis_link import RedisLink
from service.runs.events import RunEvent, make_event
from service.upstream.wire import RunSnapshot, run_from_raw

_NOW_MS = "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000) "
_HEARTBEAT = (
    _NOW_MS + "if ARGV[2] == '1' then redis.call('ZADD', KEYS[1], now + ARGV[3], ARGV[1]) "
    "redis.call('PEXPIRE', KEYS[1], ARGV[3]) else redis.call('ZREM', KEYS[1], ARGV[1]) end "
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now) return redis.call('ZCARD', KEYS[1])"
)
_RENEW = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end"
)
_RELEASE = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
)
# KEYS: lease, events, epoch, polled; ARGV: replica, maxlen, retain ms, epoch, seq, ts, run
_PUBLISH = (
    _NOW_MS + "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end "
    "redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', "
    "'e', ARGV[4], 's', ARGV[5], 't', ARGV[6], 'r', ARGV[7]) "
    "redis.call('SET', KEYS[4], now, 'PX', ARGV[3]) "
    "redis.call('PEXPIRE', KEYS[2], ARGV[3]) redis.call('PEXPIRE', KEYS[3], ARGV[3]) return 1"
)
_POLLED = _NOW_MS + "redis.call('SET', KEYS[1], now, 'PX', ARGV[1]) return 1"
_SINCE = _NOW_MS + "local at = redis.call('GET', KEYS[1]) if at then return now - at end return -1"


def decode_entry(fields: dict[bytes, bytes]) -> RunEvent:
    """A stream entry as the event every replica builds from it, byte for byte the same."""
    snapshot = run_from_raw(msgspec.Raw(fields[b"r"]))
    return make_event(fields[b"e"].decode(), int(fields[b"s"]), snapshot, int(fields[b"t"]))


class SharedRun:
    """One run (as one identity sees it) in Redis, as one replica works on it."""

    def __init__(
        self,
        link: RedisLink,
        run_id: int,
        identity_key: str,
        *,
        lease_ms: int,
        retain_ms: int,
        maxlen: int,
    ) -> None:
        who = hashlib.sha256(identity_key.encode()).hexdigest()[:16]
        base = link.key("run", run_id, who)
        self.events = f"{base}:events"
        self._epoch = f"{base}:epoch"
        self._lease = f"{base}:lease"
        self._watchers = f"{base}:watchers"
        self._polled = f"{base}:polled"
        self._link = link
        self._me = link.replica
        self._lease_ms = lease_ms
        self._retain_ms = retain_ms
        self._maxlen = maxlen

    async def open(self, new_epoch: str, limit: int) -> tuple[str, list[tuple[bytes, RunEvent]]]:
        """The shared epoch (ours if first) and the last `limit` events, oldest first."""

        async def call(client: redis.Redis) -> list[object]:
            async with client.pipeline(transaction=False) as pipe:
                pipe.set(self._epoch, new_epoch, nx=True, px=self._retain_ms)
                pipe.get(self._epoch)
                pipe.xrevrange(self.events, count=limit)
                return await pipe.execute()

        _, epoch, entries = await self._link.run(call)
        assert isinstance(epoch, bytes)  # noqa: S101 - just set if absent
        history = [(entry_id, decode_entry(fields)) for entry_id, fields in reversed(entries)]  # type: ignore[call-overload]
        return epoch.decode(), history

    async def tail(self) -> RunEvent | None:
        entries = await self._link.run(lambda c: c.xrevrange(self.events, count=1))
        return decode_entry(cast("dict[bytes, bytes]", entries[0][1])) if entries else None

    async def acquire(self) -> bool:
        """Take the lease if nobody holds it."""
        return bool(
            await self._link.run(lambda c: c.set(self._lease, self._me, nx=True, px=self._lease_ms))
        )

    async def renew(self) -> bool:
        """Extend our lease (and what the run keeps in Redis); False when it is no longer ours."""

        async def call(client: redis.Redis) -> list[object]:
            async with client.pipeline(transaction=False) as pipe:
                pipe.eval(_RENEW, 1, self._lease, self._me, self._lease_ms)
                pipe.pexpire(self.events, self._retain_ms)
                pipe.pexpire(self._epoch, self._retain_ms)
                return await pipe.execute()

        return bool((await self._link.run(call))[0])

    async def release(self) -> None:
        await self._link.run(lambda c: c.eval(_RELEASE, 1, self._lease, self._me))

    async def heartbeat(self, watching: bool) -> int:
        """Say whether this replica has watchers of the run; answer how many replicas do."""
        ttl = str(self._lease_ms)
        count = await self._link.run(
            lambda c: c.eval(_HEARTBEAT, 1, self._watchers, self._me, "1" if watching else "0", ttl)
        )
        return int(count)

    async def publish(self, epoch: str, seq: int, timestamp: int, snapshot: RunSnapshot) -> bool:
        """Append one event, only while we hold the lease; False when we no longer do."""
        keys = (self._lease, self.events, self._epoch, self._polled)
        args = (self._me, self._maxlen, self._retain_ms, epoch, seq, timestamp, bytes(snapshot.raw))
        return bool(await self._link.run(lambda c: c.eval(_PUBLISH, 4, *keys, *args)))

    async def polled(self) -> None:
        await self._link.run(lambda c: c.eval(_POLLED, 1, self._polled, self._retain_ms))

    async def since_polled_s(self) -> float | None:
        """Seconds since any replica last polled the run (Redis' clock); None if never."""
        ms = int(await self._link.run(lambda c: c.eval(_SINCE, 1, self._polled)))
        return None if ms < 0 else ms / 1000
