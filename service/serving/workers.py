"""`workers = N`: N server processes on one port, under a supervisor that holds none of the app.

Why processes of our own rather than Hypercorn's workers: the service binds its socket itself
(keepalive options that accepted sockets inherit) and runs Hypercorn's loop around its own
`Connection` (service/serving/server.py), which `hypercorn.run` would not. Once start-up's checks
have passed, the command line replaces itself (`supervise`, an exec) with this module run as
`python -m service.serving.workers`: a fresh interpreter that imports only the standard library
(12 MB of RSS, where a parent that had imported the command line held 44 MB). It starts each
worker as a process of its own (`python -m service serve ... --worker-of <its pid>`: a whole
service, which reads its settings, binds its socket and serves), forwards SIGTERM/SIGINT to
them, restarts one that exits while serving, and exits when they have all stopped. Each worker
listens on a socket of its own with SO_REUSEPORT, so the kernel spreads connections evenly: one
shared socket let whichever worker woke first accept most of them (49 of 50 under wrk, measured).
Its log lines are the service's JSON lines, written with the json module. The cost of fresh
interpreters: a worker no longer shares the command line's modules with its parent copy-on-write
(two workers and the supervisor: 99 MB of PSS in all, 94 MB forked), and starts ~0.4 s later.
"""

# Nothing here imports beyond the standard library's small modules: tests/serving/test_workers.py.

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from collections.abc import Sequence

RESTART_LIMIT = 10  # workers restarted over the supervisor's life before it gives up
PR_SET_PDEATHSIG = 1  # linux/prctl.h
WORKER_OF = "--worker-of"  # the hidden option that makes `serve` a worker of this pid
_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
_STOPS = (signal.SIGTERM, signal.SIGINT)


def supervise(count: int, command: Sequence[str]) -> NoReturn:
    """Become the supervisor of `count` workers, each `command` plus `--worker-of <this pid>`
    (the pid stays: this process is replaced, not forked)."""
    sys.stdout.flush()
    sys.stderr.flush()
    argv = [sys.executable, "-m", __name__, str(count), *command]
    os.execv(sys.executable, argv)  # noqa: S606 - our own interpreter and module


def run_workers(count: int, command: Sequence[str]) -> int:
    """Start `count` workers and keep them running until SIGTERM/SIGINT; the exit status."""
    worker = [*command, WORKER_OF, str(os.getpid())]
    children: set[int] = set()
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def start() -> None:
        # The stop signals wait while a worker starts, so none misses a worker not yet counted.
        signal.pthread_sigmask(signal.SIG_BLOCK, _STOPS)
        try:
            if not stopping:
                children.add(os.posix_spawn(worker[0], worker, os.environ, setsigmask=()))
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPS)

    for signum in _STOPS:
        signal.signal(signum, stop)
    for _ in range(count):
        start()
    log("info", "serve.workers", workers=count, pids=sorted(children))
    restarts = 0
    status = 0
    while children:
        try:
            pid, wait_status = os.wait()
        except ChildProcessError:
            break
        children.discard(pid)
        if stopping:
            continue
        log("warning", "serve.worker_exited", pid=pid, code=os.waitstatus_to_exitcode(wait_status))
        if restarts >= RESTART_LIMIT:
            log("error", "serve.workers_gave_up", restarts=restarts)
            status = 1
            stop(signal.SIGTERM, None)
            continue
        restarts += 1
        start()
    return status


def die_with(supervisor: int) -> None:
    """SIGTERM this worker when its supervisor dies, however it dies (SIGKILL included): workers
    must not serve on, unsupervised, on a port their replacement will bind too."""
    import ctypes  # noqa: PLC0415 - the workers' only: the supervisor need not load it

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM) != 0:  # Linux only; elsewhere: best effort
        log("warning", "serve.worker_unlinked", errno=ctypes.get_errno())
    if os.getppid() != supervisor:  # the supervisor died before prctl took effect
        sys.exit(0)


def log(level: str, event: str, **fields: object) -> None:
    """One line on stderr, shaped as structlog's JSON lines are (service/basics/logs.py), at
    LOG_LEVEL or above."""
    threshold = _LEVELS.get(os.environ.get("LOG_LEVEL", "info").strip().lower(), 20)
    if _LEVELS[level] < threshold:
        return
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
    micros = int(now % 1 * 1e6)
    line = {**fields, "event": event, "level": level, "timestamp": f"{stamp}.{micros:06d}Z"}
    sys.stderr.write(json.dumps(line, separators=(",", ":")) + "\n")
    sys.stderr.flush()


if __name__ == "__main__":
    sys.exit(run_workers(int(sys.argv[1]), sys.argv[2:]))
