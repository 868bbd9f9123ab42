"""The remote subcommands' arguments: `jobs`, `run`, `watch`, `status`, `runs`, `output`,
`cancel`, `repair`, `rerun`, each with `--url` and `--json`."""

from __future__ import annotations

import argparse

from service.remote_cli.exits import EXIT_CODES

COMMANDS = ("jobs", "run", "watch", "status", "runs", "output", "cancel", "repair", "rerun")
MAX_LIMIT = 100


def run_id(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) <= 0 or len(text) > 19:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def limit(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"expected 1 to {MAX_LIMIT}, got {text!r}")
    return int(text)


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the commands that call a running service to `jobs-sidecar`'s subcommands."""

    def command(name: str, text: str) -> argparse.ArgumentParser:
        parser = sub.add_parser(
            name,
            help=text,
            description=text,
            epilog=EXIT_CODES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        parser.add_argument(
            "--url", help="the service (default: $SIDECAR_URL, else http://127.0.0.1:8000)"
        )
        parser.add_argument("--json", action="store_true", help="JSON, one object a line")
        return parser

    def job(parser: argparse.ArgumentParser, *, run: bool = False) -> None:
        parser.add_argument("job", metavar="JOB", help="the job's key, as GET /api/jobs lists it")
        if run:
            parser.add_argument("run_id", metavar="RUN_ID", type=run_id, help="the run's id")

    def params(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "-p",
            "--param",
            dest="params",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="a parameter, typed by the job's schema (repeat for each; again for a list)",
        )
        parser.add_argument(
            "--params-json", metavar="JSON", help="parameters as a JSON object (-p adds to it)"
        )

    def write(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--idempotency-key",
            metavar="KEY",
            help="the key of this request (default: a new one); the same key never does it twice",
        )
        parser.add_argument(
            "--watch", action="store_true", help="follow the run until it ends, showing progress"
        )

    command("jobs", "the jobs you may view, and their parameters")
    run = command("run", "start a run of a job (and follow it with --watch)")
    job(run)
    params(run)
    write(run)
    job(command("watch", "follow a run until it ends, showing its progress"), run=True)
    job(command("status", "the latest run of a job"))
    runs = command("runs", "the latest runs of a job, or of every job")
    runs.add_argument("job", metavar="JOB", nargs="?", help="only this job's runs")
    runs.add_argument("--active", action="store_true", help="only runs that have not ended")
    runs.add_argument("--limit", type=limit, default=20, help="how many (1-100, default 20)")
    job(command("output", "a run's output (each task's, for a run of several)"), run=True)
    job(command("cancel", "cancel a run"), run=True)
    repair = command("repair", "rerun the failed tasks of a run (or those named with --task)")
    job(repair, run=True)
    repair.add_argument(
        "--task", dest="tasks", action="append", default=[], help="a task to rerun (repeat)"
    )
    repair.add_argument(
        "--rerun-dependents", action="store_true", help="also rerun the tasks that depend on them"
    )
    params(repair)
    write(repair)
    rerun = command("rerun", "start a new run with the parameters of a run")
    job(rerun, run=True)
    write(rerun)
