"""The OpenAPI 3.1 document, generated from the route table, its `RouteDoc`s and msgspec structs.

Nothing here names a path: each documented `Route` gives its path, methods and name; its
endpoint's `RouteDoc` gives the rest; every schema comes from `msgspec.json.schema_components`
over the reply and event types, and from `params_json_schema` for each job's run request.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import msgspec
import msgspec.inspect as mi
from starlette.routing import BaseRoute, Route

from service.config import JobSettings
from service.errors import ErrorBody
from service.params import params_json_schema
from service.route_doc import FRONT_DOOR, REF, Reply, RouteDoc, doc_of

OPENAPI_VERSION = "3.1.0"
_INT64_MAX = 2**63 - 1
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")
_LOCAL_REF = "#/$defs/"

# Request headers, by the name a RouteDoc gives them; X-Request-Id goes on every operation.
_HEADERS: dict[str, dict[str, Any]] = {
    "Idempotency-Key": {
        "description": "Starts one run per key and parameters: send the same key again to get "
        "the same run (1-255 printable ASCII characters; one is made when absent)",
        "schema": {"type": "string", "pattern": "^[!-~]{1,255}$"},
    },
    "Last-Event-ID": {
        "description": "The `id` of the last event received: the stream resumes after it "
        "(one not of this service is ignored: the stream starts afresh)",
        "schema": {"type": "string"},
    },
    "X-Request-Id": {
        "description": "Echoed back and logged when it is 1-128 of `A-Za-z0-9._:-`; "
        "otherwise one is made",
        "schema": {"type": "string"},
    },
}
_RESPONSE_HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-Id": {
        "description": "This request's id, as logged",
        "required": True,
        "schema": {"type": "string"},
    },
    "Retry-After": {
        "description": "Seconds to wait before trying again",
        "schema": {"type": "integer", "minimum": 0},
    },
    "Idempotency-Key": {
        "description": "OUTCOME_UNKNOWN: retry with this key to get the run, or start it once",
        "schema": {"type": "string"},
    },
    "WWW-Authenticate": {"description": "How to authenticate", "schema": {"type": "string"}},
    **{
        f"RateLimit-{name}": {"description": text, "schema": {"type": "integer", "minimum": 0}}
        for name, text in (
            ("Limit", "Requests allowed in the window"),
            ("Remaining", "Requests left in the window"),
            ("Reset", "Seconds until the window resets"),
        )
    },
}
# Which response headers go with which error status, beside X-Request-Id.
_ERROR_HEADERS = {
    401: ("WWW-Authenticate",),
    429: ("Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"),
    502: ("Idempotency-Key",),
    503: ("Retry-After", "Idempotency-Key"),
    504: ("Idempotency-Key",),
}


def openapi_document(
    routes: Sequence[BaseRoute], jobs: Mapping[str, JobSettings], *, version: str
) -> dict[str, Any]:
    """The document for `routes` (a Starlette route table) serving `jobs`."""
    documented = list(_documented(routes))
    reply_types = [t for _, doc in documented for reply in doc.replies for t in _types_of(reply)]
    types = [ErrorBody, *reply_types, *_carried(reply_types)]
    schemas, components = msgspec.json.schema_components(types, ref_template=REF)
    schema_of = dict(zip((id(t) for t in types), schemas, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for route, doc in documented:
        for method in sorted(route.methods or ()):
            if method == "HEAD":
                continue
            if doc.per_job:
                for job in jobs.values():
                    path = route.path.replace("{job_key}", quote(job.key, safe=""))
                    operation = _operation(route, doc, jobs, schema_of, exclude=("job_key",))
                    operation["operationId"] = f"{route.name}_{_component_name(job.key)}"
                    operation["summary"] = f"{doc.summary} ({job.key})"
                    operation["requestBody"] = _run_body(job, components, doc.body)
                    operation["responses"]["200"]["links"] = _run_links(job.key, routes)
                    paths.setdefault(path, {})[method.lower()] = operation
            else:
                operation = _operation(route, doc, jobs, schema_of, exclude=())
                paths.setdefault(route.path, {})[method.lower()] = operation
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "jobs-sidecar",
            "version": version,
            "description": "Trigger, watch and cancel Databricks Jobs over HTTP. Every error "
            "answer is an `ErrorBody`; its `code` says what went wrong.",
        },
        "tags": [
            {"name": "jobs", "description": "Jobs and their runs (behind the front door)"},
            {"name": "service", "description": "Probes and metrics"},
        ],
        "paths": paths,
        "components": {
            "schemas": components,
            "headers": _RESPONSE_HEADERS,
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "token mode: a key from SIDECAR_API_KEYS or api_keys_file",
                }
            },
        },
    }


def _documented(routes: Sequence[BaseRoute]) -> Iterator[tuple[Route, RouteDoc]]:
    """Each route in the schema, with its doc (a route without one gets a bare doc)."""
    for route in routes:
        if isinstance(route, Route) and route.include_in_schema:
            doc = doc_of(route.endpoint) or RouteDoc(route.name, (Reply(200, "OK", Any),))
            yield route, doc


def _types_of(reply: Reply) -> Iterator[Any]:
    if reply.body is not None:
        yield reply.body
    for event in reply.events:
        yield event.data


def _carried(types: Sequence[Any]) -> list[Any]:
    """The structs that `schema_of` names inside `types` (Raw bytes documented as a struct)."""
    found: list[Any] = []
    seen: set[int] = set()

    def visit(info: object) -> None:
        if id(info) in seen:
            return
        seen.add(id(info))
        if isinstance(info, mi.Metadata) and info.extra and "schema" in info.extra:
            struct = info.extra["schema"]
            if struct not in found:
                found.append(struct)
                visit(mi.type_info(struct))
        for name in getattr(info, "__struct_fields__", ()):
            value = getattr(info, name)
            for item in value if isinstance(value, tuple) else (value,):
                if isinstance(item, mi.Field):
                    visit(item.type)
                elif isinstance(item, mi.Type):
                    visit(item)

    for info in mi.multi_type_info(types):
        visit(info)
    return found


def _operation(
    route: Route,
    doc: RouteDoc,
    jobs: Mapping[str, JobSettings],
    schema_of: Mapping[int, Any],
    *,
    exclude: tuple[str, ...],
) -> dict[str, Any]:
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": _path_schema(name, jobs)}
        for name in route.param_convertors
        if name not in exclude
    ]
    parameters += [
        {
            "name": q.name,
            "in": "query",
            "required": False,
            "schema": q.schema,
            "description": q.description,
        }
        for q in doc.query
    ]
    parameters += [
        {"name": name, "in": "header", "required": False, **_HEADERS[name]}
        for name in (*doc.headers, "X-Request-Id")
    ]
    operation: dict[str, Any] = {
        "operationId": route.name,
        "tags": ["jobs" if doc.job else "service"],
        "summary": doc.summary,
        "parameters": parameters,
        "responses": {**_replies(doc, schema_of), **_errors(doc)},
    }
    if doc.job:
        # The front door decides: open mode needs nothing; token mode a bearer key.
        operation["security"] = [{}, {"apiKey": []}]
    return operation


def _path_schema(name: str, jobs: Mapping[str, JobSettings]) -> dict[str, Any]:
    if name == "job_key":
        return {"type": "string", "enum": sorted(jobs)}
    if name == "run_id":
        return {"type": "integer", "minimum": 1, "maximum": _INT64_MAX}
    return {"type": "string"}


def _replies(doc: RouteDoc, schema_of: Mapping[int, Any]) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for reply in doc.replies:
        status = str(reply.status)
        if status in responses:  # a second media type: run-now's JSON or its event stream
            responses[status]["description"] += f"; as {reply.media_type}: {reply.description}"
        else:
            responses[status] = {"description": reply.description, "headers": _headers(())}
        if reply.events:
            media: dict[str, Any] = {"schema": _event_schema(reply, schema_of)}
        elif reply.body is not None:
            media = {"schema": schema_of[id(reply.body)]}
        else:
            continue
        responses[status].setdefault("content", {})[reply.media_type] = media
    return responses


def _event_schema(reply: Reply, schema_of: Mapping[int, Any]) -> dict[str, Any]:
    """One event of the stream (before OpenAPI 3.2, `schema` of an event stream describes each
    event): its `event` name, `id`, `retry` hint, and `data`, JSON of the event's struct."""
    names = ", ".join(f"`{e.name}`" for e in reply.events)
    return {
        "description": f"Server-Sent Events: {names}. Comment lines (`: heartbeat`) keep "
        "the line open; `data` is JSON, described by its `contentSchema`.",
        "oneOf": [
            {
                "type": "object",
                "description": event.description,
                "properties": {
                    "event": {"const": event.name},
                    "id": {"type": "string"},
                    "retry": {"type": "integer", "minimum": 0},
                    "data": {
                        "type": "string",
                        "contentMediaType": "application/json",
                        "contentSchema": schema_of[id(event.data)],
                    },
                },
                "required": ["event", "data"],
            }
            for event in reply.events
        ],
    }


def _errors(doc: RouteDoc) -> dict[str, Any]:
    cases: dict[int, list[str]] = {}
    for case in (*doc.errors, *(FRONT_DOOR if doc.job else ())):
        codes = cases.setdefault(case.status, [])
        if case.code not in codes:
            codes.append(case.code)
    return {
        str(status): {
            "description": ", ".join(codes),
            "headers": _headers(_ERROR_HEADERS.get(status, ())),
            "content": {
                "application/json": {
                    "schema": {
                        "allOf": [
                            {"$ref": REF.format(name=ErrorBody.__name__)},
                            {"properties": {"code": {"enum": codes}}},
                        ]
                    }
                }
            },
        }
        for status, codes in sorted(cases.items())
    }


def _headers(names: Sequence[str]) -> dict[str, Any]:
    return {name: {"$ref": f"#/components/headers/{name}"} for name in ("X-Request-Id", *names)}


def _run_links(job_key: str, routes: Sequence[BaseRoute]) -> dict[str, Any]:
    """From a started run to the operations on it: `runId` is their `run_id`."""
    links = {}
    for route in routes:
        doc = doc_of(route.endpoint) if isinstance(route, Route) else None
        if not isinstance(route, Route) or doc is None or "{run_id}" not in route.path:
            continue
        parameters = {"job_key": job_key, "run_id": "$response.body#/runId"}
        target = route.name
        if doc.per_job:  # one operation per job key, the key in its path: link to this job's
            target = f"{route.name}_{_component_name(job_key)}"
            del parameters["job_key"]
        links[target] = {"operationId": target, "parameters": parameters}
    return links


def _run_body(
    job: JobSettings, components: dict[str, Any], members: dict[str, Any] | None = None
) -> dict[str, Any]:
    """`{"params": ...}` typed by the job's parameter schema, itself a component; with
    `members` beside it, `params` is optional (see RouteDoc.body)."""
    params = params_json_schema(job.params, task_type=job.task_type)
    if params is None:
        params = {"type": "object", "description": "Any parameters: this job has no schema"}
    params = _embedded(dict(params), components)
    name = f"{_component_name(job.key)}.params"
    components[name] = params
    required = members is None and bool(params.get("required"))
    body: dict[str, Any] = {
        "type": "object",
        "properties": {**(members or {}), "params": {"$ref": REF.format(name=name)}},
        "additionalProperties": False,
    }
    if required:
        body["required"] = ["params"]
    return {
        "required": required,
        "content": {"application/json": {"schema": body}},
    }


def _embedded(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """A self-contained JSON Schema made a component: its `$defs` join the components."""
    schema.pop("$schema", None)
    defs = schema.pop("$defs", {})
    for name, definition in defs.items():
        components[name] = _rereferenced(definition)
    return _rereferenced(schema)  # type: ignore[no-any-return]


def _rereferenced(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: (
                REF.format(name=value.removeprefix(_LOCAL_REF))
                if key == "$ref" and isinstance(value, str) and value.startswith(_LOCAL_REF)
                else _rereferenced(value)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_rereferenced(item) for item in node]
    return node


def _component_name(key: str) -> str:
    return _UNSAFE_NAME.sub("_", key)
