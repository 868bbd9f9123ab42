"""`service.client` stands alone: importing it loads nothing of the server."""

from __future__ import annotations

import subprocess
import sys

SERVER = {"starlette", "hypercorn", "redis", "aiocache", "structlog", "stamina", "limits", "uvloop"}


def modules_loaded_by(statement: str) -> set[str]:
    """Every module a fresh interpreter holds after `statement`."""
    probe = f"{statement}; import sys; print(' '.join(sys.modules))"
    loaded = subprocess.check_output(  # noqa: S603 - our own interpreter, our own program text
        [sys.executable, "-c", probe], text=True
    )
    return set(loaded.split())


def test_importing_the_client_loads_no_server_module():
    loaded = modules_loaded_by("import service.client")
    assert {name.partition(".")[0] for name in loaded} & SERVER == set()
    assert {"httpx", "msgspec"} <= loaded
    ours = {name for name in loaded if name.startswith("service.")}
    assert {name for name in ours if not name.startswith("service.client")} == set()
