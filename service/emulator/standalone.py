"""`python -m service.emulator`: the emulator served on its own, without the rest of the service.

Only the emulator, Starlette and Hypercorn are imported, so the fake can run (and be checked)
whatever state the service's own modules are in. `python -m service emulator` serves the same
app through the service's own serving code (its socket options and header timeout).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence

from hypercorn.asyncio import serve
from hypercorn.config import Config

from service.emulator.app import create_emulator_app
from service.emulator.scenario import load_scenario

DEFAULT_PORT = 8001
DEFAULT_SCENARIO = "config/emulator.toml"


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the emulator until SIGTERM or SIGINT; 2 for a scenario that cannot be loaded."""
    args = _parser().parse_args(argv)
    try:
        scenario = load_scenario(args.scenario)
    except ValueError as exc:
        print(f"scenario error: {exc}", file=sys.stderr)
        return 2
    config = Config()
    config.bind = [f"{args.host}:{args.port}"]
    config.accesslog = None
    config.graceful_timeout = 1.0
    asyncio.run(_serve_until_signalled(create_emulator_app(scenario), config))
    return 0


async def _serve_until_signalled(app: object, config: Config) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await serve(app, config, shutdown_trigger=stopping.wait)  # type: ignore[arg-type]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m service.emulator", description="Serve the local Jobs API emulator."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--scenario", default=DEFAULT_SCENARIO)
    return parser
