"""Rotating API keys: `api_keys_file` is re-read when it changes, without a restart.

Each authentication asks `RotatingKeys.name_of`; at most once per `check_every_s` (loop time)
that costs one `stat` of the file, and a change of its inode, size or modification time re-reads
it. The new keys replace the file's old ones at once (a removed key is refused from the next
request on); the keys of SIDECAR_API_KEYS stay. A file that cannot be read, does not parse, or
holds no key keeps the keys in force, with a warning naming the reason (never a secret), so a
half-written file never locks every caller out: write the new file beside the old one and
rename it over it.
"""

from __future__ import annotations

import os
from pathlib import Path

import structlog

from service.api_keys import ApiKey, KeyRing, file_keys, loose_permissions, merged
from service.clock import Clock
from service.errors import ConfigError

CHECK_EVERY_S = 1.0
_log = structlog.get_logger("service.key_rotation")
Stamp = tuple[int, int, int, int] | None  # device, inode, size, mtime (ns); None: unreadable


class RotatingKeys:
    """The keys in force: the fixed ones and those of the file as last read well."""

    def __init__(
        self,
        keys: tuple[ApiKey, ...],
        file: Path,
        *,
        clock: Clock,
        check_every_s: float = CHECK_EVERY_S,
    ) -> None:
        self._fixed = tuple(key for key in keys if not key.from_file)
        self._keys = keys
        self._ring = KeyRing(keys)
        self._file = file
        self._clock = clock
        self._every = check_every_s
        self._stamp = _stamp(file)  # as `load_settings` read it, a moment ago
        self._next_check = float("-inf")  # the first request checks (the clock is the loop's)

    def name_of(self, presented: str) -> str | None:
        """The name of the key `presented` (constant time), after a change of the file."""
        now = self._clock.monotonic()
        if now >= self._next_check:
            self._next_check = now + self._every
            self._check()
        return self._ring.name_of(presented)

    def _check(self) -> None:
        stamp = _stamp(self._file)
        if stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            keys = merged(self._fixed, _some_keys(self._file))
        except ConfigError as exc:
            _log.warning("api_keys.reload_failed", reason=str(exc), kept=len(self._keys))
            return
        if (warning := loose_permissions(self._file)) is not None:
            _log.warning("config.warning", message=warning)
        if keys != self._keys:
            self._keys, self._ring = keys, KeyRing(keys)
            _log.info("api_keys.reloaded", keys=[key.name for key in keys])


def _some_keys(path: Path) -> tuple[ApiKey, ...]:
    keys = file_keys(path)
    if not keys:  # most likely caught half-written (truncated, not yet filled)
        raise ConfigError(f"api_keys_file {path} has no keys")
    return keys


def _stamp(path: Path) -> Stamp:
    try:
        found = os.stat(path)
    except OSError:
        return None
    return (found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns)
