"""Schemathesis fuzzes the running service against its own /openapi.json, over real sockets.

The service and the emulator run on Hypercorn on loopback (free ports), in a thread of their own:
schemathesis' pytest plugin calls each case synchronously. Every operation gets a bounded number
of derandomized examples, valid and invalid; each answer must not be a 5xx, and its status,
content type, headers and body must be what the document says.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import threading
from collections.abc import Iterator
from importlib.metadata import version
from typing import Any

import httpx
import msgspec
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from service.app import create_app
from service.emulator import ScaledClock, Scenario, create_emulator_app
from service.web.openapi import openapi_document
from service.web.route_table import routes
from tests.e2e.servers import fast_settings, running

# Sync tests (schemathesis calls each case); the servers run on a real loop in a thread.
pytestmark = pytest.mark.looptime(False)
MAX_EXAMPLES = 12  # per operation: ~20 operations well under the suite's 30 s budget
SPEED = 1000.0


@pytest.fixture(scope="module")
def service_url() -> Iterator[str]:
    """The service over the emulator, both on Hypercorn on loopback, until the module ends."""
    started: concurrent.futures.Future[tuple[str, asyncio.AbstractEventLoop, asyncio.Event]]
    started = concurrent.futures.Future()

    async def serve() -> None:
        stop = asyncio.Event()
        # The demo's runs at SPEED times their pace: a run-and-wait case ends in a few polls.
        scenario = msgspec.structs.replace(Scenario.demo(), speed=SPEED)
        emulator = create_emulator_app(scenario, clock=ScaledClock(speed=SPEED))
        try:
            async with running(emulator) as emulator_url:
                app = create_app(fast_settings(emulator_url))
                async with running(app) as url:
                    started.set_result((url, asyncio.get_running_loop(), stop))
                    await stop.wait()
        except BaseException as exc:
            if not started.done():
                started.set_exception(exc)
            raise

    thread = threading.Thread(target=asyncio.run, args=(serve(),), name="fuzzed-stack")
    thread.start()
    url, loop, stop = started.result(timeout=30)
    try:
        yield url.rstrip("/")
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=30)


def demo_document() -> dict[str, Any]:
    """The document the stack serves, made in-process so pytest can collect one test per
    operation (schemathesis' lazy loader does not run on pytest 9); the first test checks that
    it is the very document the running service serves."""
    settings = fast_settings("http://127.0.0.1:1")
    document = openapi_document(routes(), settings.jobs, version=version("jobs-sidecar"))
    return json.loads(msgspec.json.encode(document))  # type: ignore[no-any-return]


# Where we differ from schemathesis' defaults, and why:
# - 422 is accepted for a schema-valid request: the document cannot say that an Idempotency-Key
#   was used before, and the fuzzer reuses keys with other parameters; IDEMPOTENCY_KEY_REUSED
#   (documented) is the right answer then.
# - use_after_free is off: DELETE of a run cancels it (the AppKit contract); the run, and its
#   output, stay readable afterwards, as they do in Databricks.
CONFIG = SchemathesisConfig.from_dict(
    {
        "generation": {"deterministic": True},
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "401", "403", "404", "409", "422", "429"]
            },
            "use_after_free": {"enabled": False},
        },
    }
)
schema = schemathesis.openapi.from_dict(demo_document(), config=CONFIG)


def test_the_fuzzed_document_is_the_one_served(service_url: str) -> None:
    served = httpx.get(f"{service_url}/openapi.json")
    assert served.json() == demo_document()


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_answer_conforms_to_the_document(case: schemathesis.Case, service_url: str) -> None:
    case.call_and_validate(base_url=service_url, timeout=30)


def test_runs_started_by_the_fuzzer_are_followed_through_the_documents_links(
    service_url: str,
) -> None:
    """Stateful: a run's `runId` feeds get, watch, output and cancel (the document's links),
    so the operations on a run meet real runs, not only 404s."""

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"base_url": service_url, "timeout": 30}

    Workflow.run(
        settings=settings(
            max_examples=6,
            stateful_step_count=6,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )
