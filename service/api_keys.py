"""API keys for token mode: `name:secret` pairs from SIDECAR_API_KEYS or `api_keys_file`."""

from __future__ import annotations

import hashlib
import hmac
import re
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path

import msgspec

from service.callers import named
from service.errors import ConfigError
from service.secret import Secret

MIN_SECRET_LENGTH = 16
_NAME = re.compile(r"^[A-Za-z0-9._@+-]{1,128}$")


class ApiKey(msgspec.Struct, frozen=True):
    """One caller's key: its name (the caller, spelt as `callers.named` spells it), its secret
    (masked wherever shown), and whether it came from `api_keys_file` (re-read on rotation)."""

    name: str
    secret: Secret
    from_file: bool = False


def load_api_keys(environ: Mapping[str, str], file: str | None) -> tuple[ApiKey, ...]:
    """Keys from the environment (comma-separated) and the file (one per line, # comments)."""
    from_env = [
        _parse(f"SIDECAR_API_KEYS entry {i + 1}", raw) for i, raw in enumerate(_split_env(environ))
    ]
    return merged(from_env, file_keys(Path(file)) if file else ())


def file_keys(path: Path) -> tuple[ApiKey, ...]:
    """The keys of an `api_keys_file`; a ConfigError (never showing a secret) if it is bad."""
    return tuple(
        msgspec.structs.replace(_parse(f"{path} line {n}", raw), from_file=True)
        for n, raw in _file_lines(path)
    )


def merged(*sources: Iterable[ApiKey]) -> tuple[ApiKey, ...]:
    """The keys of every source; a name given twice (in any spelling) is a ConfigError."""
    keys: dict[str, ApiKey] = {}
    for source in sources:
        for key in source:
            if key.name in keys:
                raise ConfigError(f"the key name {key.name!r} is given twice")
            keys[key.name] = key
    return tuple(keys.values())


def loose_permissions(path: Path) -> str | None:
    """A warning when users other than the file's owner may read or write the key file."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None  # reading it says why
    if not mode & 0o077:
        return None
    return (
        f"api_keys_file {path} is open to other users (mode {mode:o}): anyone who can read it "
        f"can call as any of its keys; chmod 600 it"
    )


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
    except UnicodeDecodeError:
        raise ConfigError(f"api_keys_file {path}: not UTF-8 text") from None
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
    return ApiKey(named(name.strip()).name, Secret(secret.strip()))
