"""The soak's processes on loopback: the emulator, a restartable redis-server and replicas that
can be SIGKILLed and started again on their port; RSS and open descriptors of each, sampled."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from bench.procs import ROOT, TOKEN, free_port, service_python, wait_port

QUIET = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "stdin": subprocess.DEVNULL}


def _spawn(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 - our own interpreter, or Debian's redis-server
        args, cwd=ROOT, env={**os.environ, **(env or {})}, **QUIET
    )


def _stop(popen: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> None:
    if popen is not None and popen.poll() is None:
        popen.send_signal(sig)
        try:
            popen.wait(timeout=30)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait()


class Emulator:
    def __init__(self) -> None:
        self.port = free_port()
        scenario = "bench/soak_scenario.toml"
        self.popen = _spawn(
            [
                service_python(),
                "-m",
                "service",
                "emulator",
                "--port",
                str(self.port),
                "--scenario",
                scenario,
            ],
            {"LOG_LEVEL": "warning"},
        )
        wait_port(self.port)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        _stop(self.popen)


class Redis:
    """redis-server without persistence: a restart loses every key (what the soak wants)."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed (bash .ci/redis-up --install)"
        self.binary = binary
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="soak-redis-")
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.popen: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self.start()

    def start(self) -> None:
        options = ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir]
        self.popen = _spawn([self.binary, *options, "--save", "", "--appendonly", "no"])
        wait_port(self.port)

    def restart(self) -> None:
        """Stopped and started again on its port, empty."""
        _stop(self.popen)
        self.start()
        self.restarts += 1

    def stop(self) -> None:
        _stop(self.popen)
        shutil.rmtree(self.dir, ignore_errors=True)


class Replica:
    """`python -m service serve` on a port of its own, started again on it after a SIGKILL."""

    def __init__(self, name: str, emulator_url: str, redis_url: str, config: str) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            "LOG_LEVEL": "warning",
            "DATABRICKS_HOST": emulator_url,
            "DATABRICKS_TOKEN": TOKEN,
            "DATABRICKS_AUTH_TYPE": "pat",
            "JOBS_CONFIG": config,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "REDIS_URL": redis_url,
        }
        self.popen: subprocess.Popen[bytes] | None = None
        self.kills = 0
        self.generation = 0
        self.start()

    def start(self) -> None:
        self.popen = _spawn([service_python(), "-m", "service", "serve"], self.env)
        wait_port(self.port, timeout=60)
        self.generation += 1

    def kill(self) -> None:
        """SIGKILL: no drain, no lease released (workers follow their parent: PDEATHSIG)."""
        assert self.popen is not None
        self.popen.kill()
        self.popen.wait()
        self.kills += 1
        # A worker takes a moment to see its parent gone; the port must be free to bind again.
        deadline = time.monotonic() + 10
        while self.pids()[1:] and time.monotonic() < deadline:
            time.sleep(0.05)

    def pids(self) -> list[int]:
        """The process and its children (a `workers = N` parent's workers)."""
        if self.popen is None or self.popen.poll() is not None:
            return []
        pid = self.popen.pid
        children: list[int] = []
        for task in Path(f"/proc/{pid}/task").glob("*/children"):
            children += [int(c) for c in task.read_text().split()]
        return [pid, *sorted(children)]

    def stop(self) -> None:
        _stop(self.popen)


def sample(pid: int) -> tuple[float, int] | None:
    """RSS in MB and open descriptors of a process; None when it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    rss_kb = next(int(x.split()[1]) for x in status.splitlines() if x.startswith("VmRSS:"))
    return rss_kb / 1024, fds


def config_with(text: str) -> str:
    """bench/soak.toml with top-level `text` before it, in a temporary file."""
    handle, name = tempfile.mkstemp(prefix="soak-", suffix=".toml")
    os.close(handle)
    Path(name).write_text(text + "\n" + (ROOT / "bench/soak.toml").read_text())
    return name
