"""How the process serves HTTP: its listening socket, its fd limit, Hypercorn's config and loop.

Why we run Hypercorn's connection loop ourselves rather than `hypercorn.asyncio.serve`: we bind
the socket (TCP keepalive and TCP_USER_TIMEOUT, which accepted sockets inherit) and each
connection is our `Connection` (service/serving/connection.py); `serve` takes neither. What is left
is `hypercorn.asyncio.run.worker_serve` for one plain-HTTP socket: lifespan, accept, graceful stop.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import resource
import socket
from collections.abc import Awaitable, Callable

import structlog
from hypercorn.asyncio.lifespan import Lifespan
from hypercorn.asyncio.worker_context import WorkerContext
from hypercorn.config import Config as HypercornConfig
from hypercorn.typing import ASGIFramework, LifespanState
from hypercorn.utils import wrap_app

from service.basics.clock import Clock
from service.basics.errors import CannotListen
from service.serving.accept_errors import AcceptFailureLog
from service.serving.connection import Connection
from service.serving.http1 import MAX_HEAD_BYTES

_log = structlog.get_logger("service.serve")
KEEP_ALIVE_S = 75  # longer than typical proxy idle timeouts
_KEEPALIVE_PROBES = 6


def hypercorn_config(host: str, port: int, graceful_timeout_s: float) -> HypercornConfig:
    """Hypercorn's config from our settings: our access log only, a bounded graceful stop."""
    config = HypercornConfig()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    # Hypercorn's errors go through the root logger (warnings and up, once); we log the address.
    config.errorlog = logging.getLogger("hypercorn.error")
    config.graceful_timeout = graceful_timeout_s
    config.keep_alive_timeout = KEEP_ALIVE_S
    config.h11_max_incomplete_size = (
        MAX_HEAD_BYTES  # a head arriving in pieces (service/serving/http1.py)
    )
    return config


def raise_fd_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit (each connection is an fd); return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard not in (resource.RLIM_INFINITY, soft):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return int(hard)
    return int(soft)


def listening_socket(
    host: str,
    port: int,
    *,
    dead_peer_timeout_s: float,
    reuse_port: bool = False,
    setting: str = "PORT",
) -> socket.socket:
    """A bound TCP socket whose connections drop a peer that vanished within the timeout.

    Keepalive probes find a silent dead peer (idle half the timeout, then six probes over the
    other half); TCP_USER_TIMEOUT drops one that stops acknowledging what we send (a stream's
    events and heartbeats), which keepalive alone never would while data is unacknowledged.
    `reuse_port`: one of several workers' sockets on the port (service/serving/workers.py).
    A port that cannot be bound is a CannotListen naming `setting`, the one that moves it.
    """
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    idle_s = max(1, int(dead_peer_timeout_s / 2))
    interval_s = max(1, int(dead_peer_timeout_s / 2 / _KEEPALIVE_PROBES))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, idle_s)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, interval_s)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, _KEEPALIVE_PROBES)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(dead_peer_timeout_s * 1000))
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise CannotListen(_why_not(exc, host, port, setting)) from None
    sock.setblocking(False)
    return sock


def _why_not(exc: OSError, host: str, port: int, setting: str) -> str:
    """Why `host`:`port` cannot be bound, and what to set instead: one line for a person."""
    if exc.errno == errno.EADDRINUSE:
        return (
            f"port {port} on {host} is in use: stop what listens there, "
            f"or set {setting} to a free port"
        )
    if exc.errno == errno.EACCES:
        return f"port {port} on {host} needs privileges: set {setting} to a port above 1023"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"{host} is not an address of this machine: set HOST to one that is"
    reason = exc.strerror or type(exc).__name__
    return f"cannot listen on {host}:{port} ({reason}): check HOST and {setting}"


async def serve(
    app: object,
    sock: socket.socket,
    config: HypercornConfig,
    *,
    header_timeout_s: float,
    shutdown_trigger: Callable[[], Awaitable[object]],
) -> None:
    """Serve `app` on `sock` until `shutdown_trigger` returns, then stop gracefully."""
    loop = asyncio.get_running_loop()
    asgi = wrap_app(_asgi(app), config.wsgi_max_body_size, "asgi")
    state: LifespanState = {}
    lifespan = Lifespan(asgi, config, loop, state)
    lifespan_task = loop.create_task(lifespan.handle_lifespan())
    await lifespan.wait_for_startup()
    if lifespan_task.done() and (error := lifespan_task.exception()) is not None:
        raise error
    context = WorkerContext(None)
    connections: set[asyncio.Task[None]] = set()

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None  # noqa: S101 - a callback of start_server runs in a task
        connections.add(task)
        task.add_done_callback(connections.discard)
        args = (asgi, loop, config, context, state, reader, writer)
        await Connection(*args, header_timeout_s=header_timeout_s)

    previous_handler = loop.get_exception_handler()
    loop.set_exception_handler(AcceptFailureLog())
    server = await asyncio.start_server(on_connection, sock=sock, backlog=config.backlog)
    try:
        await shutdown_trigger()
    finally:
        loop.set_exception_handler(previous_handler)
        await context.terminated.set()
        server.close()
        await server.wait_closed()
        if connections:
            _, unfinished = await asyncio.wait(connections, timeout=config.graceful_timeout)
            for task in unfinished:
                task.cancel()
        await lifespan.wait_for_shutdown()
        lifespan_task.cancel()
        await asyncio.gather(lifespan_task, return_exceptions=True)


async def drain_after(
    stopping: asyncio.Event, draining: asyncio.Event, *, delay_s: float, clock: Clock
) -> None:
    """Once `stopping` is set (readiness fails at once), serve on for `delay_s`, then drain.

    A load balancer takes a few probe periods to see /readyz fail; until then it keeps sending
    requests, which must still be served rather than find the listener closed.
    """
    await stopping.wait()
    if delay_s > 0:
        _log.info("serve.stopping", drain_in_ms=round(delay_s * 1000))
        await clock.sleep(delay_s)
    draining.set()


def _asgi(app: object) -> ASGIFramework:
    return app  # type: ignore[return-value]
