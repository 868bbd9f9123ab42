"""The supervisor of `workers = N`: the standard library only, the service's log lines, and a
restart limit. (Workers that serve: tests/scale/test_workers_e2e.py.)"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from service.serving.workers import RESTART_LIMIT

ROOT = Path(__file__).resolve().parents[2]
SUPERVISOR = (sys.executable, "-m", "service.serving.workers")
# A worker that exits at once with status 3, after printing the arguments the supervisor added.
FAILING_WORKER = ("/bin/sh", "-c", 'echo "$0 $1"; exit 3')
STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


class Supervised:
    """The supervisor run to its end: its pid, exit status, stdout and its JSON lines."""

    def __init__(self, *args: str, log_level: str = "info") -> None:
        with subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [*SUPERVISOR, *args],
            cwd=ROOT,
            env={"PATH": os.environ["PATH"], "LOG_LEVEL": log_level},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as process:
            self.pid = process.pid
            self.stdout, stderr = process.communicate(timeout=30)
        self.returncode = process.returncode
        self.lines = [json.loads(line) for line in stderr.splitlines()]


def imported(*args: str) -> set[str]:
    """Every module an interpreter run with `args` imports (its `-X importtime` report)."""
    done = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-X", "importtime", *args],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line and "cumulative" not in line
    }


def test_the_supervisor_imports_nothing_but_the_standard_library():
    modules = imported(*SUPERVISOR[1:], "0") - imported("-c", "pass")
    ours = {m for m in modules if m.split(".")[0] == "service"}
    others = {m for m in modules - ours if m.split(".")[0] not in sys.stdlib_module_names}
    assert ours == {"service", "service.serving"}  # and the supervisor, as __main__
    assert others == set()  # no structlog, msgspec, anyio, httpx, starlette, hypercorn...


def test_a_worker_that_keeps_exiting_is_restarted_up_to_the_limit_then_exit_1():
    done = Supervised("1", *FAILING_WORKER)
    exited = [line for line in done.lines if line["event"] == "serve.worker_exited"]
    assert done.returncode == 1
    assert [(line["level"], line["code"]) for line in exited] == [("warning", 3)] * (
        RESTART_LIMIT + 1
    )
    assert [(line["level"], line["event"]) for line in done.lines if line not in exited] == [
        ("info", "serve.workers"),
        ("error", "serve.workers_gave_up"),
    ]
    assert all(STAMP.fullmatch(line["timestamp"]) for line in done.lines)


def test_each_worker_is_told_the_pid_of_its_supervisor():
    done = Supervised("1", *FAILING_WORKER)
    assert set(done.stdout.splitlines()) == {f"--worker-of {done.pid}"}


def test_log_level_warning_keeps_the_supervisors_warnings_only():
    done = Supervised("1", *FAILING_WORKER, log_level="warning")
    assert {line["level"] for line in done.lines} == {"warning", "error"}
