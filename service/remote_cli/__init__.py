"""`jobs-sidecar run|watch|status|runs|cancel|repair|rerun`: call a running service from a
shell, with live progress and exit codes to script on (service/client underneath)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping

from service.remote_cli.arguments import COMMANDS, add_commands
from service.remote_cli.commands import execute
from service.remote_cli.exits import INTERRUPTED, REFUSED, UsageError

__all__ = ["COMMANDS", "add_commands", "main"]


def main(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """Run one remote command; its exit code (see `exits.EXIT_CODES`)."""
    try:
        return asyncio.run(execute(args, environ, sys.stdout, sys.stderr))
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return REFUSED
    except KeyboardInterrupt:
        if sys.stdout.isatty():
            sys.stdout.write("\n")
        print("interrupted: the run, if one started, goes on", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and let no flush at exit complain.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return INTERRUPTED
