"""A real redis-server for the scale-out tests: a free loopback port, no persistence, a temp dir.

Without the binary the tests skip with the reason, except in CI (CI=true), where they fail:
`.ci/redis-up --install` installs Debian's package there.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis

from tests.e2e.servers import free_port

START_WITHIN_S = 10.0


def unavailable(reason: str) -> None:
    """Skip a developer's run, fail CI's: CI must run the Redis tests."""
    how = "install it with `bash .ci/redis-up --install` (root) or `apt-get install redis-server`"
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail(f"CI must run the Redis tests, but {reason}; {how}", pytrace=False)
    pytest.skip(f"{reason}; {how}")


class RedisServer:
    """One redis-server process; `stop()` and `start()` again keep its port (outage tests)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None
        self.process = subprocess.Popen(  # noqa: S603 - Debian's redis-server, fixed arguments
            [binary, *self.options()],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_WITHIN_S
        while not self.answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = self.workdir / "redis.log"
                tail = log.read_text()[-2000:] if log.exists() else ""
                raise RuntimeError(f"redis-server did not start on {self.port}: {tail}")
            time.sleep(0.01)

    def options(self) -> list[str]:
        """Loopback only, persistence off (no RDB snapshots, no AOF), files in the test's dir."""
        return [
            *("--port", str(self.port), "--bind", "127.0.0.1"),
            *("--save", "", "--appendonly", "no"),
            *("--dir", str(self.workdir), "--logfile", str(self.workdir / "redis.log")),
            *("--daemonize", "no"),
        ]

    def pause(self) -> None:
        """SIGSTOP: connections stay open and nothing answers (a hung Redis)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)  # a paused server cannot act on SIGTERM
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    def client(self) -> redis.Redis:
        """A client of the test's own, to write into Redis what no replica would."""
        return redis.Redis(port=self.port, socket_timeout=5)

    def refuse_writes(self) -> None:
        """`maxmemory 1mb` and `noeviction` over 2 MB of data: from now on Redis refuses every
        write that may grow memory with `-OOM command not allowed when used memory >
        'maxmemory'` (SET, ZADD, INCR, ...), and still answers reads, PING, DEL and PEXPIRE."""
        with self.client() as client:
            for n in range(32):
                client.set(f"filler:{n}", b"x" * 64 * 1024)
            client.config_set("maxmemory-policy", "noeviction")
            client.config_set("maxmemory", "1mb")

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


def redis_server_for(workdir: Path) -> RedisServer:
    if shutil.which("redis-server") is None:
        unavailable("redis-server is not installed")
    server = RedisServer(workdir)
    server.start()
    return server
