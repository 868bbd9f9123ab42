"""What each remote subcommand does with the client, and the exit code it ends with."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, NamedTuple, TextIO
from urllib.parse import urlsplit

import msgspec

from service.client import AsyncClient, Job, JobsError, RunUpdate
from service.remote_cli.coerce import coerce, pairs, params_json
from service.remote_cli.exits import FAILED, SUCCEEDED, UsageError, explain, one_line
from service.remote_cli.progress import describe, progress_for
from service.remote_cli.table import render

DEFAULT_URL = "http://127.0.0.1:8000"
TICK_S = 1.0


class Context(NamedTuple):
    client: AsyncClient
    args: argparse.Namespace
    out: TextIO
    err: TextIO
    url: str
    api_key_set: bool
    live: bool  # stdout is a terminal that can redraw a line


def service_url(flag: str | None, environ: Mapping[str, str]) -> str:
    """`--url`, else SIDECAR_URL, else the default; http(s) with a host, or a usage error."""
    source, url = ("--url", flag) if flag else ("SIDECAR_URL", environ.get("SIDECAR_URL", ""))
    if not url:
        return DEFAULT_URL
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.query:
        raise UsageError(f"{source}: expected http(s)://host[:port], got {url[:100]!r}")
    return url


async def execute(
    args: argparse.Namespace, environ: Mapping[str, str], out: TextIO, err: TextIO
) -> int:
    url = service_url(args.url, environ)
    api_key = environ.get("SIDECAR_API_KEY") or None
    live = out.isatty() and environ.get("TERM") != "dumb"
    async with AsyncClient(url, api_key=api_key) as client:
        context = Context(client, args, out, err, url, api_key is not None, live)
        try:
            return await COMMANDS[args.command](context)
        except JobsError as exc:
            code, line = explain(exc, url=url, api_key_set=api_key is not None)
            print(f"error: {one_line(line)}", file=err)
            return code


async def jobs(c: Context) -> int:
    for job in await c.client.jobs():
        if c.args.json:
            print(json.dumps(msgspec.to_builtins(job), separators=(",", ":")), file=c.out)
        else:
            print(job_line(job), file=c.out)
    return SUCCEEDED


async def run(c: Context) -> int:
    params = await parameters(c)
    started = await c.client.trigger(c.args.job, params, c.args.idempotency_key)
    payload = {"runId": started.run_id, "idempotencyKey": started.idempotency_key}
    if not c.args.watch:
        say(c, payload, str(started.run_id))
        return SUCCEEDED
    return await follow(c, started.run_id, payload)


async def watch(c: Context) -> int:
    return await follow(c, c.args.run_id, None)


async def status(c: Context) -> int:
    latest = await c.client.status(c.args.job)
    if c.args.json:
        line = json.dumps({"status": latest.status, "result": latest.result, "run": latest.run})
        print(line, file=c.out)
    elif latest.status is None:
        print(f"{c.args.job}: no runs yet", file=c.out)
    else:
        run_id = (latest.run or {}).get("run_id")
        print(describe(c.args.job, run_id, latest, time.time() * 1000), file=c.out)
    return FAILED if latest.final and not latest.succeeded else SUCCEEDED


async def runs(c: Context) -> int:
    active = True if c.args.active else None
    found = await c.client.runs(c.args.job, limit=c.args.limit, active=active)
    if c.args.json:
        for one in found:
            print(json.dumps(one, separators=(",", ":")), file=c.out)
    elif not found:
        print("no active runs" if active else "no runs", file=c.out)
    else:
        width = shutil.get_terminal_size().columns
        for line in render(found, width, time.time() * 1000):
            print(line, file=c.out)
    return SUCCEEDED


async def output(c: Context) -> int:
    found = await c.client.output(c.args.job, c.args.run_id)
    print(json.dumps(found, indent=None if c.args.json else 2), file=c.out)
    return SUCCEEDED


async def cancel(c: Context) -> int:
    await c.client.cancel(c.args.job, c.args.run_id)
    say(c, {"runId": c.args.run_id}, f"{c.args.job} run {c.args.run_id}: cancel requested")
    return SUCCEEDED


async def repair(c: Context) -> int:
    params = await parameters(c)
    done = await c.client.repair(
        c.args.job,
        c.args.run_id,
        c.args.tasks or None,
        rerun_dependents=c.args.rerun_dependents,
        params=params or None,
        idempotency_key=c.args.idempotency_key,
    )
    payload = {
        "runId": done.run_id,
        "repairId": done.repair_id,
        "idempotencyKey": done.idempotency_key,
    }
    if not c.args.watch:
        say(c, payload, f"{c.args.job} run {done.run_id}: repair {done.repair_id} started")
        return SUCCEEDED
    return await follow(c, done.run_id, payload)


async def rerun(c: Context) -> int:
    started = await c.client.rerun(c.args.job, c.args.run_id, c.args.idempotency_key)
    payload = {"runId": started.run_id, "idempotencyKey": started.idempotency_key}
    if not c.args.watch:
        say(c, payload, str(started.run_id))
        return SUCCEEDED
    return await follow(c, started.run_id, payload)


COMMANDS: dict[str, Callable[[Context], Awaitable[int]]] = {
    "jobs": jobs,
    "run": run,
    "watch": watch,
    "status": status,
    "runs": runs,
    "output": output,
    "cancel": cancel,
    "repair": repair,
    "rerun": rerun,
}


def job_line(job: Job) -> str:
    """`etl (job): run_date date, dry_run? boolean, env? dev|prod`, and whether you may run it."""
    schema = job.params or {}
    properties = schema.get("properties")
    required = set(schema.get("required") or ())
    params = [
        f"{name}{'' if name in required else '?'} {kind_of(prop)}"
        for name, prop in (properties.items() if isinstance(properties, dict) else ())
    ]
    said = ", ".join(params) if job.params is not None else "any parameters"
    kind = f" ({job.task_type})" if job.task_type else ""
    return f"{job.key}{kind}: {said or 'no parameters'}" + ("" if job.can_run else " [view only]")


def kind_of(prop: Any) -> str:
    if not isinstance(prop, dict):
        return "any"
    if isinstance(prop.get("enum"), list):
        return "|".join(str(member) for member in prop["enum"])
    kind, items = prop.get("format") or prop.get("type") or "any", prop.get("items")
    return f"list of {kind_of(items)}" if kind == "array" else str(kind)


def say(c: Context, payload: dict[str, Any], text: str) -> None:
    print(json.dumps(payload) if c.args.json else text, file=c.out)


async def parameters(c: Context) -> dict[str, Any]:
    """`--params-json`, then each `-p` typed by the job's schema (asked only for `-p`)."""
    params = params_json(c.args.params_json)
    if c.args.params:
        items = pairs(c.args.params)
        jobs = {job.key: job for job in await c.client.jobs()}
        if c.args.job not in jobs:
            known = ", ".join(sorted(jobs)) or "none"
            raise UsageError(f"JOB: no job {c.args.job!r} you may view (jobs: {known})")
        params.update(coerce(items, jobs[c.args.job].params))
    return params


async def follow(c: Context, run_id: int, started: dict[str, Any] | None) -> int:
    """Show the run's progress until it ends: 0 when it succeeded, 1 when it did not; a
    second task redraws the live line each second meanwhile (its elapsed time)."""
    progress = progress_for(c.out, c.args.job, run_id, as_json=c.args.json, live=c.live)
    if started is not None:
        progress.started(started)

    async def ticking() -> None:
        while True:
            await asyncio.sleep(TICK_S)
            progress.tick()

    async def following() -> int:
        last: RunUpdate | None = None
        try:
            async with contextlib.aclosing(c.client.watch(c.args.job, run_id)) as updates:
                async for last in updates:
                    progress.update(last)
        except JobsError as exc:
            progress.finish(None)
            code, line = explain(exc, url=c.url, api_key_set=c.api_key_set)
            again = f"jobs-sidecar watch {c.args.job} {run_id}"
            print(f"error: {one_line(line)} (the run goes on: `{again}` follows it)", file=c.err)
            return code
        finally:
            ticker.cancel()
        progress.finish(last)
        return SUCCEEDED if last is not None and last.succeeded else FAILED

    async with asyncio.TaskGroup() as tasks:
        ticker = tasks.create_task(ticking())
        outcome = tasks.create_task(following())
    return outcome.result()
