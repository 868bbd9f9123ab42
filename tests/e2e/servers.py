"""Real Hypercorn servers on loopback for end-to-end tests, served as production serves."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from service.serving import hypercorn_config, listening_socket, serve


def free_port() -> int:
    """A port nothing listens on now (for a child process to bind, or for a refused call)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_listening(port: int, within_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.01)
        else:
            writer.close()
            await writer.wait_closed()
            return


@asynccontextmanager
async def running(
    app: object,
    *,
    shutdown: asyncio.Event | None = None,
    graceful_s: float = 5.0,
    header_timeout_s: float = 10.0,
) -> AsyncIterator[str]:
    """Serve `app` on 127.0.0.1 until the block ends (or `shutdown` is set); yield its URL."""
    sock = listening_socket("127.0.0.1", 0, dead_peer_timeout_s=120)
    port = int(sock.getsockname()[1])
    shutdown = shutdown or asyncio.Event()
    config = hypercorn_config("127.0.0.1", port, graceful_s)
    config.errorlog = None
    task = asyncio.create_task(
        serve(
            app,
            sock,
            config,
            header_timeout_s=header_timeout_s,
            shutdown_trigger=shutdown.wait,
        )
    )
    try:
        await wait_listening(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        shutdown.set()
        await asyncio.wait_for(task, graceful_s + 5)
