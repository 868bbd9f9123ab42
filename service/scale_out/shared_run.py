"""One run's shared state in Redis: its epoch, its stream of events, its poll lease, its watchers.

Keys (`<prefix>:run:<run id>:<identity hash>:...`, the identity hashed so keys stay short):

    epoch     the watch's epoch, made once by whoever comes first; every replica
              numbers events `<epoch>-<seq>` with it, so an id means the same on each. When
              Redis has lost it (a restart), the stream is lost too: the next holder makes a
              new one and numbers from 1 under it, so no id is ever given to two events
    events    a Redis Stream, one entry per change (epoch, seq, timestamp, the run's raw JSON),
              trimmed to about `stream_buffer` entries (XADD MAXLEN ~)
    lease     the replica that polls (SET PX, never without a TTL); renewed by its holder, and
              written only while held (a script checks the holder and appends in one step)
    watchers  a sorted set: replica id -> when its heartbeat expires (Redis' own clock)
    polled    when the run was last polled, so a new holder keeps to the poll floor

Everything but the lease lives `RETAIN_FINISHED_S` past its last refresh, for late resumes.

Whatever these keys hold is read as untrusted: an epoch that is not one of ours is replaced
(`new_epoch`), a stream entry that does not fit is dropped (`decode_entry`), a `polled` that is
not a number is "never", and a lease or heartbeat that would outlive `SLACK` leases (no TTL, or
an hour's) is treated as expired: a holder that never renews is replaced.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

import msgspec
import redis.asyncio as redis

from service.runs.events import RunEvent, is_epoch, make_event
from service.scale_out.redis_health import RedisHealth
from service.scale_out.redis_link import RedisLink, RedisRefused
from service.upstream.wire import RunSnapshot, run_from_raw

# Why a slack: replicas of one service share their settings, but one may be restarted with a
# longer poll interval (a longer lease) while the others run; four times ours is still "soon".
SLACK = 4
_SEQ = re.compile(rb"[1-9][0-9]{0,17}")
_WALL_MS = re.compile(rb"0|[1-9][0-9]{0,17}")

_NOW_MS = "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000) "
# Members that expired, and any that would live past SLACK leases (nobody's heartbeat), go.
_HEARTBEAT = (
    _NOW_MS + "if ARGV[2] == '1' then redis.call('ZADD', KEYS[1], now + ARGV[3], ARGV[1]) "
    "redis.call('PEXPIRE', KEYS[1], ARGV[3]) else redis.call('ZREM', KEYS[1], ARGV[1]) end "
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now) "
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '(' .. (now + ARGV[4]), '+inf') "
    "return redis.call('ZCARD', KEYS[1])"
)
# The lease if free, or if it would outlive SLACK leases (no TTL: -1); 2 when that was so.
_ACQUIRE = (
    "local ttl = redis.call('PTTL', KEYS[1]) "
    "if ttl ~= -2 and ttl ~= -1 and ttl <= tonumber(ARGV[3]) then return 0 end "
    "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) if ttl == -2 then return 1 end return 2"
)
# The epoch if it is one of ours (see service/runs/events.py `is_epoch`), else ours from now
# on; the second value is 1 when a value that was not one of ours was replaced.
_EPOCH = (
    "local e = redis.call('GET', KEYS[1]) "
    "if e and string.len(e) == 8 and not string.find(e, '[^0-9a-f]') then return {e, 0} end "
    "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) if e then return {ARGV[1], 1} end "
    "return {ARGV[1], 0}"
)
_RENEW = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end"
)
_RELEASE = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
)
# KEYS: lease, events, epoch, polled; ARGV: replica, maxlen, retain ms, epoch, seq, ts, run.
# Only under the run's epoch: one Redis lost (or replaced) has numbered nothing after ours.
_PUBLISH = (
    _NOW_MS + "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end "
    "if redis.call('GET', KEYS[3]) ~= ARGV[4] then return 0 end "
    "redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', "
    "'e', ARGV[4], 's', ARGV[5], 't', ARGV[6], 'r', ARGV[7]) "
    "redis.call('SET', KEYS[4], now, 'PX', ARGV[3]) "
    "redis.call('PEXPIRE', KEYS[2], ARGV[3]) redis.call('PEXPIRE', KEYS[3], ARGV[3]) return 1"
)
_POLLED = _NOW_MS + "redis.call('SET', KEYS[1], now, 'PX', ARGV[1]) return 1"
_SINCE = (
    _NOW_MS + "local at = tonumber(redis.call('GET', KEYS[1])) "
    "if at then return now - at end return -1"
)


def decode_entry(fields: object, run_id: int) -> RunEvent | None:
    """A stream entry as the event every replica builds from it, byte for byte the same; None
    for one that does not fit: other fields, a seq or time that is not a plain number, an epoch
    that is not one of ours, a run that does not decode or is another run."""
    if not isinstance(fields, dict) or fields.keys() != {b"e", b"s", b"t", b"r"}:
        return None
    epoch, seq, wall_ms, raw = fields[b"e"], fields[b"s"], fields[b"t"], fields[b"r"]
    if not all(isinstance(v, bytes) for v in (epoch, seq, wall_ms, raw)):
        return None
    if not (
        _SEQ.fullmatch(seq) and _WALL_MS.fullmatch(wall_ms) and is_epoch(epoch.decode("latin-1"))
    ):
        return None
    try:
        snapshot = run_from_raw(msgspec.Raw(raw))
    except msgspec.DecodeError:  # ValidationError included
        return None
    if snapshot.run.run_id != run_id:
        return None
    return make_event(epoch.decode(), int(seq), snapshot, int(wall_ms))


def decode_entries(
    entries: Iterable[tuple[object, object]], run_id: int, health: RedisHealth
) -> list[tuple[bytes, RunEvent]]:
    """The entries that fit (see `decode_entry`); each that does not is counted and dropped."""
    events = []
    for entry_id, fields in entries:
        event = decode_entry(fields, run_id)
        if event is None or not isinstance(entry_id, bytes):
            health.rejection("entry")
        else:
            events.append((entry_id, event))
    return events


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
        self.run_id = run_id
        self._link = link
        self._me = link.replica
        self._lease_ms = lease_ms
        self._retain_ms = retain_ms
        self._maxlen = maxlen

    async def open(self, new_epoch: str, limit: int) -> tuple[str, list[tuple[bytes, RunEvent]]]:
        """The shared epoch (ours if first) and the last `limit` events, oldest first."""

        async def call(client: redis.Redis) -> list[object]:
            async with client.pipeline(transaction=False) as pipe:
                pipe.eval(_EPOCH, 1, self._epoch, new_epoch, self._retain_ms)
                pipe.xrevrange(self.events, count=limit)
                return await pipe.execute()

        shared, entries = await self._link.run(call)
        history = self.decode(reversed(entries if isinstance(entries, list) else []))
        return self._epoch_from(shared), history

    async def epoch(self, new_epoch: str) -> str:
        """The shared epoch; `new_epoch` from now on when Redis has none (it lost the run)."""
        shared = await self._link.run(
            lambda c: c.eval(_EPOCH, 1, self._epoch, new_epoch, self._retain_ms)
        )
        return self._epoch_from(shared)

    def _epoch_from(self, shared: object) -> str:
        epoch, replaced = shared if isinstance(shared, list) else (None, 0)
        if replaced:
            self._link.health.rejection("epoch")
        if not (isinstance(epoch, bytes) and is_epoch(epoch.decode("latin-1"))):
            raise RedisRefused  # the script makes this impossible; a Redis that lies: local
        return epoch.decode()

    def decode(self, entries: Iterable[tuple[object, object]]) -> list[tuple[bytes, RunEvent]]:
        return decode_entries(entries, self.run_id, self._link.health)

    async def tail(self) -> RunEvent | None:
        """The newest entry that fits: entries that do not are skipped back to one that does."""
        newest = await self._link.run(lambda c: c.xrevrange(self.events, count=1)) or []
        found = self.decode(newest)
        if newest and not found and isinstance(newest[0][0], bytes):
            below = b"(" + newest[0][0]
            older = await self._link.run(
                lambda c: c.xrevrange(self.events, max=below, count=self._maxlen)
            )
            found = self.decode(older or [])
        return found[0][1] if found else None

    async def acquire(self) -> bool:
        """Take the lease if nobody holds it, or if its holder would never let it go."""
        taken = await self._link.run(
            lambda c: c.eval(
                _ACQUIRE, 1, self._lease, self._me, self._lease_ms, self._lease_ms * SLACK
            )
        )
        if taken == 2:
            self._link.health.rejection("lease")
        return bool(taken)

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
        ttl, longest = str(self._lease_ms), str(self._lease_ms * SLACK)
        flag = "1" if watching else "0"
        count = await self._link.run(
            lambda c: c.eval(_HEARTBEAT, 1, self._watchers, self._me, flag, ttl, longest)
        )
        return int(count)

    async def publish(self, epoch: str, seq: int, timestamp: int, snapshot: RunSnapshot) -> bool:
        """Append one event, only while we hold the lease and `epoch` is the run's; False
        when either is no longer so."""
        keys = (self._lease, self.events, self._epoch, self._polled)
        args = (self._me, self._maxlen, self._retain_ms, epoch, seq, timestamp, bytes(snapshot.raw))
        return bool(await self._link.run(lambda c: c.eval(_PUBLISH, 4, *keys, *args)))

    async def polled(self) -> None:
        await self._link.run(lambda c: c.eval(_POLLED, 1, self._polled, self._retain_ms))

    async def since_polled_s(self) -> float | None:
        """Seconds since any replica last polled the run (Redis' clock); None if never."""
        ms = int(await self._link.run(lambda c: c.eval(_SINCE, 1, self._polled)))
        return None if ms < 0 else ms / 1000
