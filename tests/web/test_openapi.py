"""GET /openapi.json: a valid OpenAPI 3.1 document made from the route table and the structs."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import msgspec
import pytest
from openapi_spec_validator import validate
from starlette.routing import Route

from service.basics import errors
from service.basics.errors import ErrorBody, SidecarError, error_body
from service.settings.config import load_settings
from service.web.route_table import routes
from tests.factories import HOST, SIDECAR_NAME, TOKEN, make_client, upstream_router

DEMO = Path(__file__).resolve().parents[2] / "config" / "demo.toml"
ENVIRON = {"DATABRICKS_HOST": HOST, "DATABRICKS_TOKEN": TOKEN, "ALLOWED_HOSTS": SIDECAR_NAME}


@pytest.fixture
async def document() -> dict[str, Any]:
    settings = load_settings(ENVIRON, DEMO)
    async with make_client(settings, upstream_router()) as client:
        response = await client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    return response.json()  # type: ignore[no-any-return]


def run_params(document: dict[str, Any], key: str) -> dict[str, Any]:
    """The parameter schema of a job's run request, resolved."""
    body = document["paths"][f"/api/jobs/{key}/run"]["post"]["requestBody"]
    return resolve(document, body["content"]["application/json"]["schema"]["properties"]["params"])


def resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = document["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def test_the_document_is_valid_openapi_3_1(document):
    validate(document)
    assert document["openapi"] == "3.1.0"


def test_every_route_of_the_table_is_documented_by_its_own_descriptor():
    """A route added without `@documented(...)` fails here, not silently in the document."""
    undocumented = [
        route.name
        for route in routes()
        if isinstance(route, Route)
        and route.include_in_schema
        and getattr(route.endpoint, "api_doc", None) is None
    ]
    assert undocumented == []


def test_every_route_and_method_is_an_operation(document):
    operations = {
        (method.upper(), path) for path, item in document["paths"].items() for method in item
    }
    for route in routes():
        if not (isinstance(route, Route) and route.include_in_schema):
            continue
        for method in route.methods - {"HEAD"}:
            if route.endpoint.api_doc.per_job:  # one operation per job key
                assert (method, route.path.replace("{job_key}", "etl")) in operations
            else:
                assert (method, route.path) in operations
    assert ("GET", "/openapi.json") not in operations  # the document is not its own subject


def test_each_job_has_its_own_run_operation_typed_by_its_parameters(document):
    runs = [path for path in document["paths"] if path.endswith("/run")]
    assert sorted(runs) == sorted(
        f"/api/jobs/{key}/run"
        for key in ("etl", "wheel", "script", "jar", "report", "dbt", "pipeline", "flaky")
    )
    run_etl = document["paths"]["/api/jobs/etl/run"]["post"]
    assert run_etl["operationId"] == "run_job_etl"
    body = run_etl["requestBody"]
    assert body["required"] is True
    schema = body["content"]["application/json"]["schema"]
    assert schema["required"] == ["params"]
    assert schema["additionalProperties"] is False
    params = resolve(document, schema["properties"]["params"])
    # Each `description` of the config is published with its parameter (the form's help text).
    assert params["properties"]["run_date"] == {
        "type": "string",
        "format": "date",
        "description": "The day of sales to load",
    }
    assert params["properties"]["env"] == {
        "enum": ["dev", "prod"],
        "default": "dev",
        "description": "Where to write",
    }
    assert params["required"] == ["run_date"]


def test_a_started_runs_id_links_to_the_operations_on_that_run(document):
    links = document["paths"]["/api/jobs/etl/run"]["post"]["responses"]["200"]["links"]
    assert set(links) == {
        "get_run",
        "cancel_run",
        "watch_run",
        "get_run_output",
        "rerun_run",
        "repair_run_etl",  # a per-job operation: this job's
    }
    assert links["watch_run"] == {
        "operationId": "watch_run",
        "parameters": {"job_key": "etl", "run_id": "$response.body#/runId"},
    }
    # The job's own repair operation has the job key in its path: the link sets the run alone.
    assert links["repair_run_etl"]["parameters"] == {"run_id": "$response.body#/runId"}
    operation_ids = {
        operation["operationId"]
        for item in document["paths"].values()
        for operation in item.values()
    }
    assert {link["operationId"] for link in links.values()} <= operation_ids


def test_each_job_has_its_own_repair_operation_whose_params_are_optional(document):
    repair = document["paths"]["/api/jobs/etl/runs/{run_id}/repair"]["post"]
    body = repair["requestBody"]["content"]["application/json"]["schema"]
    assert repair["operationId"] == "repair_run_etl"
    assert repair["requestBody"]["required"] is False
    assert set(body["properties"]) == {"tasks", "rerunDependents", "params"}
    assert body["properties"]["params"] == {"$ref": "#/components/schemas/etl.params"}
    assert body["additionalProperties"] is False
    conflicts = repair["responses"]["409"]["content"]["application/json"]["schema"]
    assert conflicts["allOf"][1]["properties"]["code"]["enum"] == [
        "RUN_NOT_FINISHED",
        "NOTHING_TO_REPAIR",
    ]


def test_a_job_without_required_parameters_takes_no_body(document):
    body = document["paths"]["/api/jobs/pipeline/run"]["post"]["requestBody"]
    assert body["required"] is False
    assert run_params(document, "dbt") == {
        "type": "object",
        "properties": {},
        "additionalProperties": False,
    }


def test_a_pattern_and_bounds_are_published_as_configured(document):
    body = document["paths"]["/api/jobs/wheel/run"]["post"]["requestBody"]
    params = resolve(
        document, body["content"]["application/json"]["schema"]["properties"]["params"]
    )
    assert params["properties"]["table"] == {
        "type": "string",
        "pattern": "^[a-z_]+$",
        "description": "Lower-case letters and underscores, e.g. sales_orders",
    }
    assert params["properties"]["limit"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 1000,
        "description": "At most this many rows",
    }


def parameters(operation: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(p["in"], p["name"]): p for p in operation["parameters"]}


def test_path_and_query_parameters_carry_their_bounds(document):
    list_runs = parameters(document["paths"]["/api/jobs/{job_key}/runs"]["get"])
    assert list_runs["query", "limit"]["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 100,
        "default": 20,
    }
    assert "etl" in list_runs["path", "job_key"]["schema"]["enum"]
    get_run = parameters(document["paths"]["/api/jobs/{job_key}/runs/{run_id}"]["get"])
    assert get_run["path", "run_id"]["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 2**63 - 1,
    }
    run = parameters(document["paths"]["/api/jobs/etl/run"]["post"])
    assert run["query", "stream"]["schema"]["type"] == "boolean"


def test_request_headers_are_documented_where_they_count(document):
    run = parameters(document["paths"]["/api/jobs/etl/run"]["post"])
    assert run["header", "Idempotency-Key"]["schema"]["pattern"] == "^[!-~]{1,255}$"
    watch = parameters(document["paths"]["/api/jobs/{job_key}/runs/{run_id}/events"]["get"])
    assert ("header", "Last-Event-ID") in watch
    assert ("query", "lastEventId") in watch
    for item in document["paths"].values():
        for operation in item.values():
            assert ("header", "X-Request-Id") in parameters(operation)


def error_codes(response: dict[str, Any]) -> list[str]:
    schema = response["content"]["application/json"]["schema"]
    assert schema["allOf"][0] == {"$ref": "#/components/schemas/ErrorBody"}
    return schema["allOf"][1]["properties"]["code"]["enum"]  # type: ignore[no-any-return]


def test_each_error_status_names_its_codes_and_the_error_body(document):
    responses = document["paths"]["/api/jobs/etl/run"]["post"]["responses"]
    assert error_codes(responses["400"]) == ["BAD_REQUEST", "UPSTREAM_REJECTED"]
    assert error_codes(responses["422"]) == ["IDEMPOTENCY_KEY_REUSED"]
    assert "OUTCOME_UNKNOWN" in error_codes(responses["502"])
    assert set(error_codes(responses["503"])) == {
        "UNAVAILABLE",
        "UPSTREAM_THROTTLED",
        "OUTCOME_UNKNOWN",
    }
    assert "Idempotency-Key" in responses["502"]["headers"]
    assert "Retry-After" in responses["503"]["headers"]
    body = document["components"]["schemas"]["ErrorBody"]
    assert body["required"] == ["error", "code", "plugin"]
    assert set(body["properties"]) == {"error", "code", "plugin", "idempotencyKey", "fields"}


def test_a_job_id_databricks_does_not_know_is_documented_on_the_routes_that_ask_for_it(
    document,
):
    paths = document["paths"]
    asks_for_the_job = [
        paths["/api/jobs/etl/run"]["post"],
        paths["/api/jobs/{job_key}"]["get"],
        paths["/api/jobs/{job_key}/runs"]["get"],
        paths["/api/jobs/{job_key}/status"]["get"],
    ]
    for operation in asks_for_the_job:
        assert "JOB_NOT_FOUND" in error_codes(operation["responses"]["404"])
    run = error_codes(paths["/api/jobs/{job_key}/runs/{run_id}"]["get"]["responses"]["404"])
    assert "RUN_NOT_FOUND" in run
    assert "JOB_NOT_FOUND" not in run  # runs/get answers for the run


def test_every_code_the_document_names_is_one_the_service_sends(document):
    named = {
        code
        for item in document["paths"].values()
        for operation in item.values()
        for response in operation["responses"].values()
        if "allOf" in response.get("content", {}).get("application/json", {}).get("schema", {})
        for code in error_codes(response)
    }
    assert named <= errors.codes_sent()


@pytest.mark.parametrize(
    "path",
    ["/api/jobs", "/api/jobs/{job_key}/status", "/api/jobs/{job_key}/runs/{run_id}"],
)
def test_job_routes_document_the_front_doors_statuses_and_headers(document, path):
    item = document["paths"][path]
    for operation in item.values():
        responses = operation["responses"]
        assert "UNAUTHENTICATED" in error_codes(responses["401"])
        assert "WWW-Authenticate" in responses["401"]["headers"]
        assert error_codes(responses["403"])[-1] == "FORBIDDEN"
        assert error_codes(responses["429"]) == ["RATE_LIMITED"]
        assert set(responses["429"]["headers"]) == {
            "X-Request-Id",
            "Retry-After",
            "RateLimit-Limit",
            "RateLimit-Remaining",
            "RateLimit-Reset",
        }


def test_probes_are_not_behind_the_front_door(document):
    assert set(document["paths"]["/livez"]["get"]["responses"]) == {"200"}
    assert document["paths"]["/livez"]["get"]["tags"] == ["service"]
    assert document["paths"]["/api/jobs/etl/run"]["post"]["tags"] == ["jobs"]
    assert set(document["paths"]["/readyz"]["get"]["responses"]) == {"200", "503"}


def event_schemas(document: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    content = document["paths"][path][method]["responses"]["200"]["content"]
    return {
        e["properties"]["event"]["const"]: e["properties"]["data"]
        for e in content["text/event-stream"]["schema"]["oneOf"]
    }


def test_streams_document_each_event_name_and_its_data(document):
    watch = event_schemas(document, "/api/jobs/{job_key}/runs/{run_id}/events", "get")
    assert {name: data["contentSchema"] for name, data in watch.items()} == {
        "message": {"$ref": "#/components/schemas/StatusData"},
        "error": {"$ref": "#/components/schemas/ErrorBody"},
        "shutdown": {"$ref": "#/components/schemas/ShutdownData"},
    }
    assert all(data["contentMediaType"] == "application/json" for data in watch.values())
    run = event_schemas(document, "/api/jobs/etl/run", "post")
    assert list(run) == ["run", "message", "error", "shutdown"]
    content = document["paths"]["/api/jobs/etl/run"]["post"]["responses"]["200"]["content"]
    assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/RunStarted"}


def test_replies_that_pass_databricks_json_through_are_typed_by_the_wire_structs(document):
    schemas = document["components"]["schemas"]
    status = schemas["StatusReply"]["properties"]
    assert status["run"] == {"anyOf": [{"$ref": "#/components/schemas/Run"}, {"type": "null"}]}
    assert status["result"] == {"anyOf": [{"type": "string"}, {"type": "null"}]}
    assert schemas["RunsReply"]["properties"]["runs"]["items"] == {
        "$ref": "#/components/schemas/ListedRun"
    }
    assert "result" in schemas["ListedRun"]["properties"]
    assert schemas["StatusData"]["properties"]["run"] == {"$ref": "#/components/schemas/Run"}
    assert schemas["Run"]["required"] == ["run_id", "job_id"]
    assert "additionalProperties" not in schemas["Run"]  # Databricks' other fields pass through
    get_job = document["paths"]["/api/jobs/{job_key}"]["get"]["responses"]["200"]
    assert get_job["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/JobReply"
    }


def every_error_class() -> list[SidecarError]:
    made: list[SidecarError] = []
    for _, cls in inspect.getmembers(errors, inspect.isclass):
        if issubclass(cls, SidecarError):
            if cls is errors.InvalidParams:
                made.append(cls("bad", fields=[{"field": "a", "message": "b"}]))
            elif cls is errors.RouteRefused:
                made.append(cls("Not Found", status=404))
            elif cls is errors.RunFailed:
                made.append(cls("failed", run_id=1, run={}))
            elif cls is errors.WaitTimeout:
                made.append(cls(1, 10))
            elif cls is errors.JobNotFound:
                made.append(cls("ghost", 424242, cause=errors.UpstreamNotFound("Not found")))
            else:
                made.append(cls("message"))
    made[-1].idempotency_key = "key-1"
    return made


@pytest.mark.parametrize("error", every_error_class(), ids=lambda e: type(e).__name__)
def test_every_error_body_fits_the_published_error_schema(error):
    body = error_body(error)
    strict = msgspec.defstruct("Strict", [], bases=(ErrorBody,), forbid_unknown_fields=True)
    assert msgspec.convert(body, strict).code == error.code


async def test_the_document_names_only_the_jobs_the_caller_may_view(tmp_path):
    """Job names do not leak through the document: a hidden job has no path and no schema."""
    path = tmp_path / "jobs.toml"
    path.write_text(
        '[jobs.etl]\njob_id = 1\n[jobs.secret]\njob_id = 2\n[jobs.secret.access]\nview = ["ops"]\n'
    )
    environ = {
        "DATABRICKS_HOST": HOST,
        "DATABRICKS_TOKEN": TOKEN,
        "ACCESS_MODE": "token",
        "SIDECAR_API_KEYS": "dev:dev-secret-0123456789,ops:ops-secret-0123456789",
        "ALLOWED_HOSTS": SIDECAR_NAME,
    }
    settings = load_settings(environ, path)
    async with make_client(settings, upstream_router()) as client:
        seen = {
            who: (
                await client.get(
                    "/openapi.json", headers={"authorization": f"Bearer {who}-secret-0123456789"}
                )
            ).text
            for who in ("dev", "ops")
        }
    assert "/api/jobs/etl/run" in seen["dev"]
    assert "secret" not in seen["dev"]
    assert "/api/jobs/secret/run" in seen["ops"]
