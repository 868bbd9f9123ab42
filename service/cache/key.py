"""The read cache's one key form: who asks, for which job, which call, with which arguments."""

from __future__ import annotations


class CacheKey(tuple[str, str, str, str]):
    """(identity, job key, call, arguments): one user's result never serves another."""

    __slots__ = ()

    def __new__(cls, identity: str, job: str, call: str, args: str = "") -> CacheKey:
        return super().__new__(cls, (identity, job, call, args))

    @property
    def job(self) -> str:
        return self[1]

    @property
    def call(self) -> str:
        return self[2]
