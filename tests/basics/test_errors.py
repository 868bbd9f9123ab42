"""The exception tree keeps its promises: a ClientError is the caller's fault, a 4xx."""

from __future__ import annotations

from service.basics import errors


def subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    return found | {s for c in found for s in subclasses(c)}


def test_every_client_error_is_a_4xx() -> None:
    not_4xx = {c.__name__: c.status for c in subclasses(errors.ClientError) if c.status // 100 != 4}
    assert not_4xx == {}


def test_a_python_caller_catching_client_errors_does_not_swallow_a_shutdown() -> None:
    try:
        raise errors.Unavailable("The service is shutting down", retry_after=1)
    except errors.ClientError:  # the caller's own mistakes, to fix and not retry
        caught_as_client_error = True
    except errors.SidecarError:
        caught_as_client_error = False
    assert caught_as_client_error is False
