"""Trigger, watch and cancel Databricks Jobs over HTTP: the jobs-sidecar service.

Settings come from a TOML file (--config, else $JOBS_CONFIG, else config/jobs.toml) and the
environment: DATABRICKS_HOST, DATABRICKS_TOKEN (or DATABRICKS_CLIENT_ID and
DATABRICKS_CLIENT_SECRET), DATABRICKS_JOB_<NAME>=<job id>, HOST, PORT, LOG_LEVEL, and
REDIS_URL for replicas (and workers) that share state.
Without DATABRICKS_HOST, `dev` (make run) serves demo jobs on a local workspace emulator
(on 127.0.0.1, port EMULATOR_PORT, default 8001).
"""

# The command line is the only reader of os.environ; the module docstring is its --help text.

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from functools import partial
from importlib.metadata import version
from pathlib import Path

import anyio
import msgspec
import structlog

from service.basics.clock import LoopClock
from service.basics.errors import CannotListen, ConfigError
from service.basics.logs import configure_logging
from service.remote_cli import COMMANDS as REMOTE_COMMANDS
from service.remote_cli import add_commands as add_remote_commands
from service.remote_cli import main as remote_main
from service.serving.workers import WORKER_OF, die_with, supervise
from service.settings.config import (
    Settings,
    check_serving,
    checked_scale,
    config_path,
    describe,
    load_settings,
    port_setting,
)

EMULATOR_PORT = 8001
EMULATOR_BACKLOG = 100  # Hypercorn's default, which `serve` sets again when it starts
DEMO_CONFIG = Path("config/demo.toml")
EMULATOR_SCENARIO = Path("config/emulator.toml")
_log = structlog.get_logger("service.cli")


def main(argv: Sequence[str] | None = None) -> int:
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
        start = _prepared(args, environ)
    except (ConfigError, ValueError) as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except CannotListen as exc:
        print(f"cannot start: {exc}", file=sys.stderr)
        return 2
    return start()


def _prepared(args: argparse.Namespace, environ: Mapping[str, str]) -> Callable[[], int]:
    """Settings read and sockets bound, before any loop runs, so that whatever stops start-up
    is one line and exit 2 (no traceback, no hang); then what serves until stopped."""
    if args.command == "emulator":
        port = args.port if args.port is not None else emulator_port(environ)
        setting = "--port" if args.port is not None else "EMULATOR_PORT"
        from service.serving.server import listening_socket  # noqa: PLC0415 - Hypercorn: only to serve

        sock = listening_socket(args.host, port, dead_peer_timeout_s=120, setting=setting)
        emulator = _emulator_app(Path(args.scenario))
        return _serving([sock], lambda stopping: [_serve_plain(emulator, sock, stopping)])
    if args.command == "dev" and not environ.get("DATABRICKS_HOST"):
        settings = _dev_settings(environ, args.config)
        check_serving(settings)
        sock = _bound(settings, environ)
        try:
            emulator_sock = _bound_emulator(environ)
        except CannotListen:
            sock.close()
            raise
        # The emulator listens from now on: the service's start-up check, which may call it
        # before its loop serves, waits in the backlog rather than being refused.
        emulator_sock.listen(EMULATOR_BACKLOG)
        emulator = _emulator_app(EMULATOR_SCENARIO)
        print(try_this(settings.port, emulator_port(environ)), file=sys.stderr)
        return _serving(
            [sock, emulator_sock],
            lambda stopping: [
                _serve_plain(emulator, emulator_sock, stopping),
                _serve(settings, stopping, sock, check_credentials=True),
            ],
            settings.event_loop,
        )
    if args.worker_of is not None:
        die_with(args.worker_of)  # first: a worker never serves without its supervisor
    settings = load_settings(environ, config_path(args.config, environ))
    if args.workers is not None:
        settings = checked_scale(msgspec.structs.replace(settings, workers=args.workers))
    check_serving(settings)
    if settings.workers > 1 and args.worker_of is None:
        # Bound once here first, so a port in use is one error at start, not a restarting
        # worker; then this process becomes their supervisor (service/serving/workers.py).
        _bound(settings, environ, reuse_port=True).close()
        return partial(supervise, settings.workers, _worker_command(args))
    sock = _bound(settings, environ, reuse_port=args.worker_of is not None)
    serving = _serving(
        [sock],
        lambda stopping: [_serve(settings, stopping, sock, check_credentials=True)],
        settings.event_loop,
    )
    return serving if args.worker_of is None else partial(_as_worker, serving)


def _serving(
    sockets: list[socket.socket],
    servers: Callable[[asyncio.Event], list[Awaitable[None]]],
    event_loop: str = "asyncio",
) -> Callable[[], int]:
    def start() -> int:
        try:
            _run(_serve_forever(servers), event_loop)
        finally:
            for sock in sockets:
                sock.close()
        return 0

    return start


def emulator_port(environ: Mapping[str, str]) -> int:
    """EMULATOR_PORT: where `dev` (and `emulator`) serve the local workspace emulator."""
    raw = environ.get("EMULATOR_PORT", "").strip() or str(EMULATOR_PORT)
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ConfigError(f"EMULATOR_PORT must be a TCP port number, got {raw!r}")
    return int(raw)


def _bound(
    settings: Settings, environ: Mapping[str, str], *, reuse_port: bool = False
) -> socket.socket:
    """The service's listening socket; a port in use is a CannotListen naming its setting."""
    from service.serving.server import listening_socket  # noqa: PLC0415 - Hypercorn: only to serve

    return listening_socket(
        settings.listen_host,
        settings.port,
        dead_peer_timeout_s=settings.dead_peer_timeout_ms / 1000,
        reuse_port=reuse_port,
        setting=port_setting(environ),
    )


def _bound_emulator(environ: Mapping[str, str]) -> socket.socket:
    from service.serving.server import listening_socket  # noqa: PLC0415 - Hypercorn: only to serve

    return listening_socket(
        "127.0.0.1", emulator_port(environ), dead_peer_timeout_s=120, setting="EMULATOR_PORT"
    )


def _run(main: Coroutine[object, object, None], event_loop: str) -> None:
    """Run `main` on asyncio's loop, or on uvloop's when the settings say so (only then is
    uvloop imported: ~1 MB of RSS)."""
    factory = None
    if event_loop == "uvloop":
        import uvloop  # noqa: PLC0415

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main)


def _as_worker(serving: Callable[[], int]) -> int:
    """A worker's end is its exit status, whatever ended it: its supervisor logs it."""
    try:
        return serving()
    except (Exception, KeyboardInterrupt) as exc:
        _log.error("serve.worker_failed", error=type(exc).__name__)
        return 1


def _worker_command(args: argparse.Namespace) -> list[str]:
    """A worker's command line: `serve` with this one's options, in a fresh interpreter."""
    command = [sys.executable, "-m", "service", "serve"]
    if args.config is not None:
        command += ["--config", args.config]
    if args.workers is not None:
        command += ["--workers", str(args.workers)]
    return command


def _check_config(cli_path: str | None, environ: Mapping[str, str]) -> int:
    """Print the settings `serve` would use; without a workspace, those of the demo set-up."""
    if environ.get("DATABRICKS_HOST", "").strip():
        settings = load_settings(environ, config_path(cli_path, environ))
        shown = {"mode": "workspace", **describe(settings)}
    else:
        settings = _dev_settings(environ, cli_path)
        shown = {"mode": "demo", **describe(settings)}
        print(
            "note: no DATABRICKS_HOST, so this is the demo set-up that `make run` starts: the "
            f"local workspace emulator on 127.0.0.1:{emulator_port(environ)} "
            f"({EMULATOR_SCENARIO}) with the jobs of {dev_config(cli_path, environ)}. To serve "
            "a workspace, set DATABRICKS_HOST and DATABRICKS_TOKEN (or DATABRICKS_CLIENT_ID and "
            "DATABRICKS_CLIENT_SECRET).",
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
    sock: socket.socket,
    *,
    check_credentials: bool = False,
) -> None:
    """Serve on `sock` (bound by `_bound`) until `stopping`."""
    # Imported once start-up's checks have passed: the app's imports take ~0.5 s, which a
    # refusal (a port in use, a bad config file) need not wait for, and a `workers = N`
    # supervisor never serves (service/serving/workers.py).
    from service.app import create_app  # noqa: PLC0415
    from service.serving.server import drain_after, hypercorn_config, raise_fd_limit, serve  # noqa: PLC0415

    max_fds = raise_fd_limit()  # every connection is an fd
    draining = asyncio.Event()
    app = create_app(
        settings, draining=draining, stopping=stopping, check_credentials=check_credentials
    )
    host, port = settings.listen_host, settings.port
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


async def _serve_plain(app: object, sock: socket.socket, stopping: asyncio.Event) -> None:
    """The emulator: served as the service is, with the settings' defaults and no drain delay."""
    from service.serving.server import hypercorn_config, serve  # noqa: PLC0415

    host, port = sock.getsockname()[:2]
    _log.info("emulator.listening", address=f"{host}:{port}")
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


def _emulator_app(scenario_path: Path) -> object:
    from service.emulator import create_emulator_app, load_scenario  # noqa: PLC0415 - dev only

    return create_emulator_app(load_scenario(scenario_path))


def dev_config(cli_path: str | None, environ: Mapping[str, str]) -> Path:
    """`--config`, else JOBS_CONFIG, else the demo's config/demo.toml (never config/jobs.toml:
    the emulator serves the demo's jobs, whose ids config/demo.toml names)."""
    if cli_path:
        return Path(cli_path)
    return Path(environ["JOBS_CONFIG"]) if environ.get("JOBS_CONFIG") else DEMO_CONFIG


def _dev_settings(environ: Mapping[str, str], cli_path: str | None = None) -> Settings:
    """The demo set-up: the config (config/demo.toml unless one is given) against the local
    emulator, on loopback only."""
    from service.emulator.scenario import DEFAULT_TOKEN  # noqa: PLC0415 - dev only

    local = {
        **environ,
        "DATABRICKS_HOST": f"http://127.0.0.1:{emulator_port(environ)}",
        "DATABRICKS_TOKEN": DEFAULT_TOKEN,
        "DATABRICKS_AUTH_TYPE": "pat",
        "HOST": "127.0.0.1",  # the demo listens on loopback, so it may be open (access_mode)
    }
    return load_settings(local, dev_config(cli_path, environ))


def try_this(port: int, emulator: int = EMULATOR_PORT) -> str:
    base = f"http://127.0.0.1:{port}/api/jobs"
    return f"""
jobs-sidecar is running against the local workspace emulator (no Databricks account needed).
  service   http://127.0.0.1:{port}      emulator  http://127.0.0.1:{emulator}
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
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {version('jobs-sidecar')}"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("serve", "serve the configured workspace"),
        ("dev", "serve; with no DATABRICKS_HOST, also start the local emulator with demo jobs"),
        ("check-config", "print the effective configuration (secrets masked) or its error"),
    ):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--config", help="TOML file (default: $JOBS_CONFIG, config/jobs.toml)")
        cmd.set_defaults(workers=None, worker_of=None)  # `dev` with a workspace serves as `serve`
        if name == "serve":
            cmd.add_argument(
                "--workers", type=int, help="server processes (default: the file's `workers`)"
            )
            # Set by the supervisor of `workers = N` on the command line of each worker it starts.
            cmd.add_argument(WORKER_OF, type=int, help=argparse.SUPPRESS)
    emulator = sub.add_parser("emulator", help="serve the local Jobs API emulator")
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--port", type=int, help="default: $EMULATOR_PORT, else 8001")
    emulator.add_argument("--scenario", default=str(EMULATOR_SCENARIO))
    add_remote_commands(sub)
    return parser
