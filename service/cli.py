"""Trigger, watch and cancel Databricks Jobs over HTTP: the jobs-sidecar service.

Settings come from a TOML file (--config, else $JOBS_CONFIG, else config/jobs.toml) and the
environment: DATABRICKS_HOST, DATABRICKS_TOKEN (or DATABRICKS_CLIENT_ID and
DATABRICKS_CLIENT_SECRET), DATABRICKS_JOB_<NAME>=<job id>, HOST, PORT, LOG_LEVEL.
Without DATABRICKS_HOST, `dev` (make run) serves demo jobs on a local workspace emulator.
"""

# The command line is the only reader of os.environ; the module docstring is its --help text.

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

import msgspec
import structlog
from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config as HypercornConfig
from hypercorn.typing import ASGIFramework

from service.app import create_app
from service.config import Settings, config_path, describe, load_settings
from service.errors import ConfigError
from service.logs import configure_logging

EMULATOR_PORT = 8001
DEMO_CONFIG = Path("config/demo.toml")
EMULATOR_SCENARIO = Path("config/emulator.toml")
LOCAL_TOKEN = "dapi-local-dev"  # noqa: S105 - the emulator's demo token, not a secret
_log = structlog.get_logger("service.cli")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
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
    except (ConfigError, ValueError) as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    asyncio.run(
        _serve_forever(lambda draining: [_serve(settings, draining, check_credentials=True)])
    )
    return 0


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
    print(json.dumps(shown, indent=2))
    for warning in settings.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def hypercorn_config(host: str, port: int, graceful_timeout_s: float) -> HypercornConfig:
    """Hypercorn's config from our settings: our access log only, a bounded graceful stop."""
    config = HypercornConfig()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    # Hypercorn's errors go through the root logger (warnings and up, once); we log the address.
    config.errorlog = logging.getLogger("hypercorn.error")
    config.graceful_timeout = graceful_timeout_s
    config.keep_alive_timeout = 75  # longer than typical proxy idle timeouts
    return config


async def _serve(
    settings: Settings, draining: asyncio.Event, *, check_credentials: bool = False
) -> None:
    app = create_app(settings, draining=draining, check_credentials=check_credentials)
    config = hypercorn_config(
        settings.listen_host, settings.port, settings.shutdown_grace_ms / 1000
    )
    _log.info("serve.listening", address=f"{settings.listen_host}:{settings.port}")
    # What is built by now (modules, settings, the app) lives as long as the process: keep it
    # out of the collector's full passes, which otherwise walk it all every few seconds under
    # load (25 ms a pass, ~4 us of every request in benchmark 4).
    gc.freeze()
    await hypercorn_serve(_asgi(app), config, shutdown_trigger=draining.wait)


async def _serve_forever(servers: Callable[[asyncio.Event], list[Awaitable[None]]]) -> None:
    """Run servers until SIGTERM/SIGINT; the draining event is ours and everyone's."""
    draining = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, draining.set)
    await asyncio.gather(*servers(draining))
    _log.info("serve.stopped")


async def _run_emulator(host: str, port: int, scenario_path: Path) -> None:
    from service.emulator import create_emulator_app, load_scenario  # noqa: PLC0415 - dev only

    app = create_emulator_app(load_scenario(scenario_path))

    async def serve(draining: asyncio.Event) -> None:
        _log.info("emulator.listening", address=f"{host}:{port}")
        await hypercorn_serve(
            _asgi(app), hypercorn_config(host, port, 1.0), shutdown_trigger=draining.wait
        )

    await _serve_forever(lambda draining: [serve(draining)])


async def _run_dev(environ: Mapping[str, str]) -> None:
    """No workspace configured: the emulator and the service, wired together, on loopback."""
    from service.emulator import create_emulator_app, load_scenario  # noqa: PLC0415 - dev only

    settings = _dev_settings(environ)
    emulator = create_emulator_app(load_scenario(EMULATOR_SCENARIO))

    async def serve_emulator(draining: asyncio.Event) -> None:
        config = hypercorn_config("127.0.0.1", EMULATOR_PORT, 1.0)
        await hypercorn_serve(_asgi(emulator), config, shutdown_trigger=draining.wait)

    print(_try_this(settings.port), file=sys.stderr)
    await _serve_forever(lambda d: [serve_emulator(d), _serve(settings, d)])


def _dev_settings(environ: Mapping[str, str]) -> Settings:
    """The demo set-up: config/demo.toml against the local emulator, on loopback only."""
    local = {
        **environ,
        "DATABRICKS_HOST": f"http://127.0.0.1:{EMULATOR_PORT}",
        "DATABRICKS_TOKEN": LOCAL_TOKEN,
        "DATABRICKS_AUTH_TYPE": "pat",
    }
    settings = load_settings(local, config_path(None, {"JOBS_CONFIG": str(DEMO_CONFIG)}))
    return msgspec.structs.replace(settings, listen_host="127.0.0.1")


def _try_this(port: int) -> str:
    base = f"http://127.0.0.1:{port}/api/jobs"
    return f"""
jobs-sidecar is running against the local workspace emulator (no Databricks account needed).
  service   http://127.0.0.1:{port}      emulator  http://127.0.0.1:{EMULATOR_PORT}
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


def _asgi(app: object) -> ASGIFramework:
    return app  # type: ignore[return-value]


def _parser() -> argparse.ArgumentParser:
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
    emulator = sub.add_parser("emulator", help="serve the local Jobs API emulator")
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--port", type=int, default=EMULATOR_PORT)
    emulator.add_argument("--scenario", default=str(EMULATOR_SCENARIO))
    return parser
