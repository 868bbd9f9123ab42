"""The route table: every path and method of the service, and the handler that answers it."""

from __future__ import annotations

from importlib.metadata import version

from starlette.routing import BaseRoute, Route

from service.web import recovery_routes as recovery
from service.web import routes as handlers
from service.web.api_documents import ApiDocuments
from service.web.docs_page import docs_routes


def routes() -> list[BaseRoute]:
    """The route table, hottest read first (Starlette tries routes in order). Links to a route
    are made from its name (`url_path_for`), so each path is written here only."""
    prefix = "/api/jobs"
    run = f"{prefix}/{{job_key}}/runs/{{run_id}}"
    return [
        Route(f"{prefix}/{{job_key}}/status", handlers.status, methods=["GET"], name="status"),
        Route(run, handlers.get_run, methods=["GET"], name="get_run"),
        Route(run, handlers.cancel_run, methods=["DELETE"], name="cancel_run"),
        Route(f"{run}/events", handlers.watch_run, methods=["GET"], name="watch_run"),
        Route(f"{run}/output", handlers.get_run_output, methods=["GET"], name="get_run_output"),
        Route(f"{prefix}/{{job_key}}/runs", handlers.list_runs, methods=["GET"], name="list_runs"),
        Route(f"{prefix}/{{job_key}}/run", handlers.run_job, methods=["POST"], name="run_job"),
        Route(f"{run}/repair", recovery.repair_run, methods=["POST"], name="repair_run"),
        Route(f"{run}/rerun", recovery.rerun_run, methods=["POST"], name="rerun_run"),
        Route(
            f"{prefix}/{{job_key}}/runs",
            recovery.cancel_all_runs,
            methods=["DELETE"],
            name="cancel_all_runs",
        ),
        Route("/api/runs", recovery.list_all_runs, methods=["GET"], name="list_all_runs"),
        Route(f"{prefix}/{{job_key}}", handlers.get_job, methods=["GET"], name="get_job"),
        Route(prefix, handlers.list_jobs, methods=["GET"], name="list_jobs"),
        Route("/livez", handlers.livez, methods=["GET"], name="livez"),
        Route("/readyz", handlers.readyz, methods=["GET"], name="readyz"),
        Route("/health", handlers.livez, methods=["GET"], name="health"),
        Route("/metrics", handlers.metrics, methods=["GET"], name="metrics"),
        Route(
            "/openapi.json",
            handlers.api_document(ApiDocuments(version("jobs-sidecar"))),
            name="openapi",
            include_in_schema=False,
        ),
        *docs_routes(),
    ]
