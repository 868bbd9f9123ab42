"""Start the emulator, the service and a bare reference server as processes on loopback."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "dapi-local-dev"


def service_python() -> str:
    """The interpreter the measured servers run on: $SERVICE_PYTHON, which `make bench` and
    `make soak` point at a runtime-only environment (the service as deployed), else this one.

    Why not this one: the test and lint tools bring packages that httpx and structlog import
    when present (click, rich, pygments...): 6 MB more RSS that no deployment has."""
    return os.environ.get("SERVICE_PYTHON") or sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


class Proc:
    """A child process serving on a loopback port."""

    def __init__(
        self, args: list[str], port: int, env: dict[str, str] | None = None, *, pinned: bool = True
    ) -> None:
        full_env = {**os.environ, **(env or {})}
        self.port = port
        # Servers on core 0, load generators on core 1 (where there are two): on a small noisy
        # machine this keeps the server and wrk from stealing each other's time. Not pinned:
        # servers of several processes (workers), which need every core.
        can_pin = pinned and shutil.which("taskset") and (os.cpu_count() or 1) > 1
        pin = ["taskset", "-c", "0"] if can_pin else []
        self.popen = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [*pin, service_python(), *args],
            cwd=ROOT,
            env=full_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        """User + system CPU time the process has used so far."""
        fields = Path(f"/proc/{self.popen.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.popen.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def terminate(self) -> float:
        """SIGTERM; seconds until the process exited."""
        started = time.monotonic()
        self.popen.send_signal(signal.SIGTERM)
        self.popen.wait(timeout=60)
        return time.monotonic() - started

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()


def emulator() -> Proc:
    port = free_port()
    return Proc(
        ["-m", "service", "emulator", "--port", str(port), "--scenario", "bench/scenario.toml"],
        port,
        {"LOG_LEVEL": "warning"},
    )


def sidecar(
    emulator_url: str,
    *,
    log_level: str = "warning",
    extra_env: dict[str, str] | None = None,
    pinned: bool = True,
) -> Proc:
    port = free_port()
    env = {
        "LOG_LEVEL": log_level,
        "DATABRICKS_HOST": emulator_url,
        "DATABRICKS_TOKEN": TOKEN,
        "DATABRICKS_AUTH_TYPE": "pat",
        "JOBS_CONFIG": "bench/jobs.toml",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        **(extra_env or {}),  # last: it may name another JOBS_CONFIG
    }
    return Proc(["-m", "service", "serve"], port, env, pinned=pinned)


def bare(body_file: Path) -> Proc:
    port = free_port()
    return Proc(["-m", "bench.bare_app", str(port), str(body_file)], port, {"LOG_LEVEL": "warning"})
