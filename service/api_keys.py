"""API keys for token mode: `name:secret` pairs from SIDECAR_API_KEYS or `api_keys_file`."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from pathlib import Path

import msgspec

from service.errors import ConfigError
from service.secret import Secret

MIN_SECRET_LENGTH = 16
_NAME = re.compile(r"^[A-Za-z0-9._@+-]{1,128}$")


class ApiKey(msgspec.Struct, frozen=True):
    """One caller's key: its name (the caller) and its secret (masked wherever shown)."""

    name: str
    secret: Secret


def load_api_keys(environ: Mapping[str, str], file: str | None) -> tuple[ApiKey, ...]:
    """Keys from the environment (comma-separated) and the file (one per line, # comments)."""
    entries = [
        (f"SIDECAR_API_KEYS entry {i + 1}", raw) for i, raw in enumerate(_split_env(environ))
    ]
    if file:
        entries += [(f"{file} line {n}", raw) for n, raw in _file_lines(Path(file))]
    keys: dict[str, ApiKey] = {}
    for where, raw in entries:
        key = _parse(where, raw)
        if key.name in keys:
            raise ConfigError(f"{where}: the key name {key.name!r} is given twice")
        keys[key.name] = key
    return tuple(keys.values())


class KeyRing:
    """The names of the keys, found by a secret in constant time (every key is compared)."""

    def __init__(self, keys: tuple[ApiKey, ...]) -> None:
        # Digests have one length, so neither a secret's content nor its length shows in timing.
        self._digests = [(_digest(key.secret.value), key.name) for key in keys]

    def name_of(self, presented: str) -> str | None:
        digest = _digest(presented)
        found = None
        for expected, name in self._digests:
            if hmac.compare_digest(digest, expected):
                found = name
        return found


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


def _split_env(environ: Mapping[str, str]) -> list[str]:
    return [part for part in environ.get("SIDECAR_API_KEYS", "").split(",") if part.strip()]


def _file_lines(path: Path) -> list[tuple[int, str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"api_keys_file {path}: {exc.strerror or 'unreadable'}") from None
    return [
        (n, line)
        for n, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]


def _parse(where: str, raw: str) -> ApiKey:
    """`name:secret`; the secret is never part of an error message."""
    name, sep, secret = raw.strip().partition(":")
    if not sep or not _NAME.match(name.strip()):
        raise ConfigError(
            f"{where}: expected name:secret, the name of letters, digits and ._@+- (1-128)"
        )
    if len(secret.strip()) < MIN_SECRET_LENGTH:
        raise ConfigError(
            f"{where} ({name.strip()}): the secret must be at least {MIN_SECRET_LENGTH} characters"
        )
    return ApiKey(name.strip(), Secret(secret.strip()))
