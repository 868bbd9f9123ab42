"""The workspace's web pages, as far as links need them: each run's `run_page_url` opens here.

A `run_page_url` is `<host>/?o=<workspace>#job/<job>/run/<run>` as Databricks writes it. The
fragment never reaches a server, so `/` is a page whose script turns it into
`/emulator/runs/<run>`, a page of that run rendered here; without one, `/` lists the latest runs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import BaseRoute, Route

from service.emulator.errors import ApiError
from service.emulator.inputs import origin
from service.emulator.render import render_run
from service.emulator.wire import Run
from service.emulator.workspace import Emulator

LATEST = 20
_STYLE = (
    "body{font:15px/1.45 system-ui,sans-serif;margin:1.5rem;max-width:60rem}"
    "table{border-collapse:collapse}td,th{padding:.2rem .6rem;border-bottom:1px solid #ccc;"
    "text-align:left}code{font-size:.9em}"
)
_FOLLOW_FRAGMENT = (
    "<script>const m=/^#job\\/(\\d+)\\/run\\/(\\d+)$/.exec(location.hash);"
    "if(m)location.replace('/emulator/runs/'+m[2]);</script>"
)


def run_page_routes(emulator: Emulator) -> list[BaseRoute]:
    async def home(request: Request) -> HTMLResponse:
        now, records = emulator.list_runs()
        ws = emulator.workspace(origin(request))
        rows = "".join(
            _run_row(render_run(record, now, ws, with_tasks=False)) for record in records[:LATEST]
        )
        body = (
            f"{_FOLLOW_FRAGMENT}<h1>Local workspace emulator</h1>"
            f"<p>Workspace {ws.workspace_id}: the latest runs.</p>"
            f"<table><tr><th>Run</th><th>Job</th><th>State</th><th>Result</th><th>Start</th></tr>"
            f"{rows}</table>"
        )
        return _page("Local workspace emulator", body)

    async def run_page(request: Request) -> HTMLResponse:
        try:
            record, _ = emulator.find(request.path_params["run_id"])
        except ApiError:
            return _page("Run not found", "<h1>Run not found</h1>", status=404)
        run = render_run(record, emulator.now(), emulator.workspace(origin(request)))
        return _page(f"Run {run.run_id}", _run_body(run))

    return [
        Route("/", home, methods=["GET"]),
        Route("/emulator/runs/{run_id:int}", run_page, methods=["GET"]),
    ]


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}'
        f"</title><style>{_STYLE}</style></head><body>{body}</body></html>"
    )
    return HTMLResponse(html, status_code=status)


def _when(ms: int) -> str:
    if ms <= 0:
        return "—"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _run_row(run: Run) -> str:
    return (
        f'<tr><td><a href="/emulator/runs/{run.run_id}">{run.run_id}</a></td>'
        f"<td>{escape(run.run_name)}</td><td>{escape(run.state.life_cycle_state)}</td>"
        f"<td>{escape(run.state.result_state or '')}</td><td>{_when(run.start_time)}</td></tr>"
    )


def _run_body(run: Run) -> str:
    state = run.state
    tasks = "".join(
        f"<tr><td><code>{escape(task.task_key)}</code></td>"
        f"<td>{escape(task.state.life_cycle_state)}</td>"
        f"<td>{escape(task.state.result_state or '')}</td><td>{_when(task.start_time)}</td>"
        f"<td>{_when(task.end_time)}</td></tr>"
        for task in run.tasks or ()
    )
    parameters = "".join(
        f"<li><code>{escape(p.get('name', ''))}</code> = <code>{escape(p.get('value', ''))}</code>"
        "</li>"
        for p in run.job_parameters or ()
    )
    return (
        f'<p><a href="/">Workspace</a> &rsaquo; Job {run.job_id}</p>'
        f"<h1>{escape(run.run_name)}: run {run.run_id}</h1>"
        f'<p>State: <strong id="state">{escape(state.life_cycle_state)}</strong> '
        f'Result: <strong id="result">{escape(state.result_state or "—")}</strong></p>'
        f"<p>Started {_when(run.start_time)}; ended {_when(run.end_time)}; "
        f"triggered by {escape(run.creator_user_name)}.</p>"
        f"<h2>Tasks</h2><table><tr><th>Task</th><th>State</th><th>Result</th><th>Start</th>"
        f"<th>End</th></tr>{tasks}</table>"
        + (f"<h2>Parameters</h2><ul>{parameters}</ul>" if parameters else "")
    )
