"""Trigger, watch and cancel Databricks Jobs over HTTP: the jobs-sidecar service.

Settings come from a TOML file (--config, else $JOBS_CONFIG, else config/jobs.toml) and the
environment: DATABRICKS_HOST, DATABRICKS_TOKEN (or DATABRICKS_CLIENT_ID and
DATABRICKS_CLIENT_SECRET), DATABRICKS_JOB_<NAME>=<job id>, HOST, PORT, LOG_LEVEL, and
REDIS_URL for replicas (and workers) that share state.
Without DATABRICKS_HOST, `dev` (make run) serves demo jobs on a local workspace emulator.
"""

# The command line is the only reader of os.environ; the module docstring is its --help text.

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from functools import partial
from pathlib import Path

import anyio
import msgspec
import structlog

from service.clock import LoopClock
from service.config import (
    Settings,
    check_serving,
    checked_scale,
    config_path,
    describe,
    load_settings,
)
from service.errors import ConfigError
from service.logs import configure_logging
from service.remote_cli import COMMANDS as REMOTE_COMMANDS
from service.remote_cli import add_commands as add_remote_commands
from service.remote_cli import main as remote_main
from service.workers import run_workers

EMULATOR_PORT = 8001
DEMO_CONFIG = Path("config/demo.toml")
EMULATOR_SCENARIO = Path("config/emulator.toml")
_log = structlog.get_logger("service.cli")


def main(argv: Sequence[str] | None = None) -> int:  # noqa: PLR0911 - a return per command
    args = argument_parser().parse_args(argv)
    if args.command in REMOTE_COMMANDS:  # a client of a running service (service/remote_cli)
        return remote_main(args, os.environ)
    environ = dict(os.environ)
    configure_logging(
        environ.get("LOG_LEVEL", "info"), cache_loggers=args.command != "check-config"
    )
    try:
        if args.command == "check-config":
            return _check_config(args.config, environ)
        if args.command == "emulator":
            asyncio.run(_run_emulator(args.host, args.port, Path(args.scenario)))
            return 0
        if args.command == "dev" and not environ.get("DATABRICKS_HOST"):
            asyncio.run(_run_dev(environ))
            return 0
        settings = load_settings(environ, config_path(args.config, environ))
        if args.workers is not None:
            settings = checked_scale(msgspec.structs.replace(settings, workers=args.workers))
        check_serving(settings)
    except (ConfigError, ValueError) as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    if settings.workers > 1:
        return _serve_workers(settings)
    _run(
        _serve_forever(lambda stopping: [_serve(settings, stopping, check_credentials=True)]),
        settings.event_loop,
    )
    return 0


def _run(main: Coroutine[object, object, None], event_loop: str) -> None:
    """Run `main` on asyncio's loop, or on uvloop's when the settings say so (only then is
    uvloop imported: ~1 MB of RSS)."""
    factory = None
    if event_loop == "uvloop":
        import uvloop  # noqa: PLC0415

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main)


def _serve_workers(settings: Settings) -> int:
    """`workers` processes, each on a SO_REUSEPORT socket of the port (service/workers.py).

    The parent only supervises: the application (and Hypercorn) is imported in each worker
    after the fork, so the parent holds none of it (bench 7 measures its RSS)."""
    from service.serving import listening_socket  # noqa: PLC0415 - see above

    host, port = settings.listen_host, settings.port
    # Bound once here first, so a port in use is one error at start, not a restarting worker.
    listening_socket(host, port, dead_peer_timeout_s=1, reuse_port=True).close()

    def serve_one() -> None:
        _run(
            _serve_forever(
                lambda stopping: [
                    _serve(settings, stopping, check_credentials=True, reuse_port=True)
                ]
            ),
            settings.event_loop,
        )

    return run_workers(settings.workers, serve_one)


def _check_config(cli_path: str | None, environ: Mapping[str, str]) -> int:
    """Print the settings `serve` would use; without a workspace, those of the demo set-up."""
    if environ.get("DATABRICKS_HOST", "").strip():
        settings = load_settings(environ, config_path(cli_path, environ))
        shown = {"mode": "workspace", **describe(settings)}
    else:
        settings = _dev_settings(environ)
        shown = {"mode": "demo", **describe(settings)}
        print(
            "note: no DATABRICKS_HOST, so this is the demo set-up that `make run` starts: the "
            f"local workspace emulator on 127.0.0.1:{EMULATOR_PORT} ({EMULATOR_SCENARIO}) with "
            f"the jobs of {DEMO_CONFIG}. To serve a workspace, set DATABRICKS_HOST and "
            "DATABRICKS_TOKEN (or DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET).",
            file=sys.stderr,
        )
    check_serving(settings)  # the refusal `serve` would make, instead of the settings
    print(json.dumps(shown, indent=2))
    for warning in settings.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


async def _serve(
    settings: Settings,
    stopping: asyncio.Event,
    *,
    check_credentials: bool = False,
    reuse_port: bool = False,
) -> None:
    """Serve until `stopping`; `reuse_port`: as one of several workers on the port."""
    # Imported here, not at the top: a `workers = N` parent never serves (see _serve_workers).
    from service.app import create_app  # noqa: PLC0415
    from service.serving import (  # noqa: PLC0415
        drain_after,
        hypercorn_config,
        listening_socket,
        raise_fd_limit,
        serve,
    )

    max_fds = raise_fd_limit()  # every connection is an fd
    draining = asyncio.Event()
    app = create_app(
        settings, draining=draining, stopping=stopping, check_credentials=check_credentials
    )
    host, port = settings.listen_host, settings.port
    timeout_s = settings.dead_peer_timeout_ms / 1000
    sock = listening_socket(host, port, dead_peer_timeout_s=timeout_s, reuse_port=reuse_port)
    loop = type(asyncio.get_running_loop()).__module__.split(".")[0]  # asyncio or uvloop
    _log.info(
        "serve.listening", address=f"{host}:{port}", max_fds=max_fds, pid=os.getpid(), loop=loop
    )
    # What is built by now (modules, settings, the app) lives as long as the process: keep it
    # out of the collector's full passes, which otherwise walk it all every few seconds under
    # load (25 ms a pass, ~4 us of every request in benchmark 4).
    gc.freeze()
    delay_s = settings.drain_delay_ms / 1000
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(
            partial(drain_after, stopping, draining, delay_s=delay_s, clock=LoopClock())
        )
        await serve(
            app,
            sock,
            hypercorn_config(host, port, settings.shutdown_grace_ms / 1000),
            header_timeout_s=settings.header_timeout_ms / 1000,
            shutdown_trigger=draining.wait,
        )


async def _serve_plain(app: object, host: str, port: int, stopping: asyncio.Event) -> None:
    """The emulator: served as the service is, with the settings' defaults and no drain delay."""
    from service.serving import hypercorn_config, listening_socket, serve  # noqa: PLC0415

    sock = listening_socket(host, port, dead_peer_timeout_s=120)
    config = hypercorn_config(host, port, 1.0)
    await serve(app, sock, config, header_timeout_s=10, shutdown_trigger=stopping.wait)


async def _serve_forever(servers: Callable[[asyncio.Event], list[Awaitable[None]]]) -> None:
    """Run servers until SIGTERM/SIGINT; the stopping event is ours and everyone's."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await asyncio.gather(*servers(stopping))
    _log.info("serve.stopped")


async def _run_emulator(host: str, port: int, scenario_path: Path) -> None:
    from service.emulator import create_emulator_app, load_scenario  # noqa: PLC0415 - dev only

    app = create_emulator_app(load_scenario(scenario_path))

    async def serve_emulator(stopping: asyncio.Event) -> None:
        _log.info("emulator.listening", address=f"{host}:{port}")
        await _serve_plain(app, host, port, stopping)

    await _serve_forever(lambda stopping: [serve_emulator(stopping)])


async def _run_dev(environ: Mapping[str, str]) -> None:
    """No workspace configured: the emulator and the service, wired together, on loopback."""
    from service.emulator import create_emulator_app, load_scenario  # noqa: PLC0415 - dev only

    settings = _dev_settings(environ)
    check_serving(settings)
    emulator = create_emulator_app(load_scenario(EMULATOR_SCENARIO))

    async def serve_emulator(stopping: asyncio.Event) -> None:
        await _serve_plain(emulator, "127.0.0.1", EMULATOR_PORT, stopping)

    print(try_this(settings.port), file=sys.stderr)
    await _serve_forever(lambda d: [serve_emulator(d), _serve(settings, d)])


def _dev_settings(environ: Mapping[str, str]) -> Settings:
    """The demo set-up: config/demo.toml against the local emulator, on loopback only."""
    from service.emulator.scenario import DEFAULT_TOKEN  # noqa: PLC0415 - dev only

    local = {
        **environ,
        "DATABRICKS_HOST": f"http://127.0.0.1:{EMULATOR_PORT}",
        "DATABRICKS_TOKEN": DEFAULT_TOKEN,
        "DATABRICKS_AUTH_TYPE": "pat",
        "HOST": "127.0.0.1",  # the demo listens on loopback, so it may be open (access_mode)
    }
    return load_settings(local, config_path(None, {"JOBS_CONFIG": str(DEMO_CONFIG)}))


def try_this(port: int) -> str:
    base = f"http://127.0.0.1:{port}/api/jobs"
    return f"""
jobs-sidecar is running against the local workspace emulator (no Databricks account needed).
  service   http://127.0.0.1:{port}      emulator  http://127.0.0.1:{EMULATOR_PORT}
  dashboard http://127.0.0.1:{port}/     (open it in a browser; the client: /client.js)
  API docs  http://127.0.0.1:{port}/docs (OpenAPI 3.1 at /openapi.json); open mode: loopback only
Try:
  curl -s {base} | python3 -m json.tool                       # jobs and their parameter schemas
  curl -s -X POST {base}/etl/run -H 'content-type: application/json' \\
       -d '{{"params": {{"run_date": "2026-11-29", "dry_run": false}}}}'   # trigger: {{"runId": N}}
  curl -sN -X POST '{base}/etl/run?stream=true' -d '{{"params": {{"run_date": "2026-11-29"}}}}'
  curl -sN {base}/etl/runs/<runId>/events                       # watch an existing run
  curl -s '{base}/etl/runs?limit=5'                              # recent runs
  curl -s {base}/etl/status                                      # latest run's state
  curl -s -X DELETE {base}/etl/runs/<runId>                      # cancel
  curl -s {base}/pipeline/runs/<runId>/output                    # every task's output
Ctrl-C stops both.
"""


def argument_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jobs-sidecar", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("serve", "serve the configured workspace"),
        ("dev", "serve; with no DATABRICKS_HOST, also start the local emulator with demo jobs"),
        ("check-config", "print the effective configuration (secrets masked) or its error"),
    ):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--config", help="TOML file (default: $JOBS_CONFIG, config/jobs.toml)")
        if name == "serve":
            cmd.add_argument(
                "--workers", type=int, help="server processes (default: the file's `workers`)"
            )
    emulator = sub.add_parser("emulator", help="serve the local Jobs API emulator")
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--port", type=int, default=EMULATOR_PORT)
    emulator.add_argument("--scenario", default=str(EMULATOR_SCENARIO))
    add_remote_commands(sub)
    return parser
