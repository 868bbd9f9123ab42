"""JobsClient: each verb's request, its calls counted by verb and status, and the Jobs API's
errors turned into ours (their text kept for the log only)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from service.clock import LoopClock
from service.errors import (
    OutcomeUnknown,
    UpstreamAuthFailed,
    UpstreamError,
    UpstreamNotFound,
    UpstreamRejected,
    UpstreamThrottled,
    UpstreamUnavailable,
    error_body,
)
from service.upstream.auth import BearerAuth, service_principal
from service.upstream.client import JobsClient, may_have_run, upstream_error
from service.upstream.retry import SAFE_WRITE, RetryBudget, RetryPolicy
from tests.factories import HOST, make_run, transport, upstream_router

SP = service_principal(BearerAuth("dapi-client-test"))


@asynccontextmanager
async def jobs_client(router) -> AsyncIterator[JobsClient]:
    clock = LoopClock()
    async with httpx.AsyncClient(base_url=HOST, transport=transport(router)) as http:
        yield JobsClient(http, RetryPolicy(clock, RetryBudget(clock)))


async def test_each_verb_sends_its_request_and_is_counted_by_status():
    router = upstream_router()
    get = router.get("/runs/get", params={"run_id": "5"}).respond(json=make_run(5))
    page = router.get("/runs/list", params={"job_id": "101", "limit": "25", "page_token": "p2"})
    page.respond(json={"runs": [make_run(4)], "has_more": False})
    cancel = router.post("/runs/cancel").respond(json={})
    run_now = router.post("/run-now").respond(json={"run_id": 9})
    async with jobs_client(router) as client:
        assert (await client.get_run(SP, 5)).run.run_id == 5
        listed = await client.list_runs(SP, 101, limit=25, page_token="p2")
        await client.cancel_run(SP, 5)
        assert await client.run_now(SP, {"job_id": 101}, tier=SAFE_WRITE) == 9
    assert [json.loads(bytes(r))["run_id"] for r in listed.runs] == [4]
    assert listed.next_page_token is None
    assert get.calls.last.request.headers["authorization"] == "Bearer dapi-client-test"
    assert json.loads(cancel.calls.last.request.content) == {"run_id": 5}
    assert json.loads(run_now.calls.last.request.content) == {"job_id": 101}
    assert dict(client.calls) == {
        ("runs/get", "200"): 1,
        ("runs/list", "200"): 1,
        ("runs/cancel", "200"): 1,
        ("run-now", "200"): 1,
    }


async def test_a_failed_call_is_counted_by_its_status_or_its_failure():
    router = upstream_router()
    router.get("/runs/get", params={"run_id": "1"}).respond(404, json={})
    router.get("/runs/get", params={"run_id": "2"}).mock(side_effect=httpx.ConnectError("no"))
    async with jobs_client(router) as client:
        with pytest.raises(UpstreamNotFound):
            await client.get_run(SP, 1)
        with pytest.raises(UpstreamUnavailable):
            await client.get_run(SP, 2)
    assert client.calls[("runs/get", "404")] == 1  # a 404 is an answer: not retried
    assert client.calls[("runs/get", "transport_error")] == 3  # the read tier's attempts


MISSING_JOB = {"error_code": "INVALID_PARAMETER_VALUE", "message": "Job 7 does not exist."}


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (404, {}, UpstreamNotFound),
        (400, MISSING_JOB, UpstreamNotFound),
        (400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "bad"}, UpstreamRejected),
        (401, {}, UpstreamAuthFailed),
        (403, {"error_code": 403, "message": "Invalid access token."}, UpstreamAuthFailed),
        (429, {}, UpstreamThrottled),
        (500, {}, UpstreamUnavailable),
        (503, {}, UpstreamUnavailable),
        (302, {}, UpstreamUnavailable),
    ],
)
def test_each_error_status_is_one_of_our_errors(status, body, expected):
    error = upstream_error(status, json.dumps(body).encode(), {}, wall_s=0)
    assert type(error) is expected
    assert error.upstream_status == status


def test_the_upstream_message_is_kept_for_the_log_and_never_sent_to_the_client():
    body = b'{"error_code": "INVALID_PARAMETER_VALUE", "message": "cluster 0412-secret-x is gone"}'
    error = upstream_error(400, body, {}, wall_s=0)
    assert error.detail == "cluster 0412-secret-x is gone"
    assert error.upstream_code == "INVALID_PARAMETER_VALUE"
    assert "0412" not in json.dumps(error_body(error))


@pytest.mark.parametrize(("header", "seconds"), [("7", 7.0), (None, 1.0)])
def test_a_429_says_when_to_retry_one_second_when_it_does_not_say(header, seconds):
    headers = {} if header is None else {"retry-after": header}
    error = upstream_error(429, b"not json", headers, wall_s=0)
    assert error.retry_after == seconds


@pytest.mark.parametrize(
    ("status", "may_have"),
    [(500, True), (503, True), (400, False), (429, False), (403, False), (302, False)],
)
def test_only_a_5xx_answer_may_follow_a_started_run(status, may_have):
    assert may_have_run(upstream_error(status, b"", {}, wall_s=0)) is may_have


@pytest.mark.parametrize(
    ("failure", "may_have"),
    [
        (httpx.ConnectError("refused"), False),
        (httpx.ConnectTimeout("no answer to SYN"), False),
        (httpx.PoolTimeout("no free connection"), False),
        (httpx.ReadTimeout("sent, then silence"), True),
        (httpx.RemoteProtocolError("peer closed mid-answer"), True),
    ],
)
async def test_a_transport_failure_may_have_started_a_run_unless_nothing_was_sent(
    failure, may_have
):
    router = upstream_router()
    router.post("/run-now").mock(side_effect=failure)
    async with jobs_client(router) as client:
        with pytest.raises(UpstreamError) as raised:
            await client.run_now(SP, {"job_id": 101}, tier=SAFE_WRITE)
    assert isinstance(raised.value, OutcomeUnknown) is may_have


async def test_repair_sends_its_body_and_answers_the_repair_id():
    router = upstream_router()
    route = router.post("/runs/repair").respond(json={"repair_id": 77})
    body = {"run_id": 5, "rerun_all_failed_tasks": True, "latest_repair_id": 70}
    async with jobs_client(router) as client:
        assert await client.repair_run(SP, body, tier=SAFE_WRITE) == 77
    assert json.loads(route.calls.last.request.content) == body


async def test_a_repair_whose_answer_was_lost_is_an_unknown_outcome_after_its_retries():
    router = upstream_router()
    route = router.post("/runs/repair").respond(503, json={})
    async with jobs_client(router) as client:
        with pytest.raises(OutcomeUnknown) as raised:
            await client.repair_run(SP, {"run_id": 5}, tier=SAFE_WRITE)
    assert route.call_count == 3  # a repair naming the latest repair is safe to send again
    assert "repaired the run" in raised.value.message


async def test_a_refused_repair_is_that_refusal():
    router = upstream_router()
    refusal = {"error_code": "INVALID_PARAMETER_VALUE", "message": "still in progress"}
    router.post("/runs/repair").respond(400, json=refusal)
    async with jobs_client(router) as client:
        with pytest.raises(UpstreamRejected):
            await client.repair_run(SP, {"run_id": 5}, tier=SAFE_WRITE)


async def test_cancel_all_names_the_job_and_is_retried_like_a_safe_write():
    router = upstream_router()
    route = router.post("/runs/cancel-all")
    route.side_effect = [httpx.Response(503, json={}), httpx.Response(200, json={})]
    async with jobs_client(router) as client:
        await client.cancel_all_runs(SP, 101)
    assert route.call_count == 2
    assert json.loads(route.calls.last.request.content) == {"job_id": 101}


async def test_get_run_asks_for_the_history_and_reads_the_latest_repair():
    router = upstream_router()
    history = [{"type": "ORIGINAL"}, {"type": "REPAIR", "id": 8}, {"type": "REPAIR", "id": 9}]
    router.get("/runs/get", params={"run_id": "5", "include_history": "true"}).respond(
        json=make_run(5, repair_history=history)
    )
    async with jobs_client(router) as client:
        snapshot = await client.get_run(SP, 5, include_history=True)
    assert snapshot.run.latest_repair_id == 9


async def test_list_runs_can_ask_for_active_runs_only():
    router = upstream_router()
    route = router.get("/runs/list", params={"job_id": "101", "limit": "5", "active_only": "true"})
    route.respond(json={"has_more": False})
    async with jobs_client(router) as client:
        page = await client.list_runs(SP, 101, limit=5, active_only=True)
    assert page.runs == ()
    assert route.called
