"""`Client`: writes keyed and retried only when their outcome is unknown; watches resumed."""

from __future__ import annotations

import httpx
import pytest

from service.client import (
    BadRequest,
    Client,
    JobsError,
    KeyReused,
    NotFound,
    OutcomeUnknown,
    RunFailed,
    ServiceFailed,
    Unreachable,
    WatchFailed,
)
from tests.client.conftest import EPOCH, FakeService, error, frame


def client(service: FakeService, **options: object) -> Client:
    return Client("http://sidecar", retry_delay=0, transport=service.transport(), **options)  # type: ignore[arg-type]


def keys(service: FakeService) -> list[str | None]:
    return [r.headers.get("idempotency-key") for r in service.requests]


def test_a_trigger_always_sends_an_idempotency_key(service):
    service.answers.append(httpx.Response(200, json={"runId": 7}))
    started = client(service).trigger("etl", {"run_date": "2026-11-29"})
    assert started.run_id == 7
    assert keys(service) == [started.idempotency_key]
    assert service.requests[0].read() == b'{"params":{"run_date":"2026-11-29"}}'


@pytest.mark.parametrize(
    "lost",
    [
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadTimeout("timed out"),
        httpx.ConnectError("refused"),
        error(502, "OUTCOME_UNKNOWN", idempotencyKey="k-1"),
        error(504, "OUTCOME_UNKNOWN", idempotencyKey="k-1"),
        httpx.Response(502, text="<html>Bad Gateway</html>"),
    ],
    ids=["dropped", "read-timeout", "refused", "502-unknown", "504-unknown", "gateway-page"],
)
def test_an_unknown_outcome_is_sent_again_with_the_same_key(service, lost):
    service.answers.extend([lost, httpx.Response(200, json={"runId": 7})])
    started = client(service).trigger("etl", idempotency_key="k-1")
    assert started.run_id == 7
    assert keys(service) == ["k-1", "k-1"]


@pytest.mark.parametrize(
    ("refusal", "kind"),
    [
        (error(400, "BAD_REQUEST", fields=[{"field": "run_date", "message": "bad"}]), BadRequest),
        (error(422, "IDEMPOTENCY_KEY_REUSED"), KeyReused),
        (error(502, "UPSTREAM_UNAVAILABLE"), Exception),
        (error(503, "UNAVAILABLE", retry_after=1), Exception),
    ],
    ids=["400", "422", "502-definite", "503-draining"],
)
def test_a_definite_answer_is_not_sent_again(service, refusal, kind):
    service.answers.extend([refusal, httpx.Response(200, json={"runId": 7})])
    with pytest.raises(kind) as raised:
        client(service).trigger("etl", idempotency_key="k-1")
    assert len(service.requests) == 1
    assert raised.value.idempotency_key == "k-1"


def test_a_refusal_carries_status_code_message_and_fields(service):
    fields = [{"field": "run_date", "message": "Invalid RFC3339 encoded date"}]
    service.answers.append(error(400, "BAD_REQUEST", fields=fields))
    with pytest.raises(BadRequest) as raised:
        client(service).trigger("etl", {"run_date": "x"})
    assert (raised.value.status, raised.value.code) == (400, "BAD_REQUEST")
    assert raised.value.message == "BAD_REQUEST happened"
    assert [(f.field, f.message) for f in raised.value.fields] == [
        ("run_date", "Invalid RFC3339 encoded date")
    ]


def test_retries_spent_on_lost_answers_end_unknown_with_the_key(service):
    service.answers.extend([httpx.ReadError("reset")] * 4)
    with pytest.raises(OutcomeUnknown) as raised:
        client(service, retries=3).trigger("etl", idempotency_key="k-9")
    assert raised.value.idempotency_key == "k-9"
    assert keys(service) == ["k-9"] * 4


def test_a_service_never_reached_is_unreachable_not_unknown(service):
    service.answers.extend([httpx.ConnectError("refused")] * 4)
    with pytest.raises(Unreachable) as raised:
        client(service, retries=3).trigger("etl", idempotency_key="k-9")
    assert (raised.value.status, raised.value.code) == (0, "NETWORK")
    assert len(service.requests) == 4


def test_one_lost_answer_among_refused_connections_is_still_unknown(service):
    service.answers.extend([httpx.ReadError("reset"), *[httpx.ConnectError("refused")] * 3])
    with pytest.raises(OutcomeUnknown):
        client(service, retries=3).trigger("etl", idempotency_key="k-9")


def test_repair_and_rerun_are_keyed_and_retried_as_a_trigger(service):
    service.answers.extend(
        [
            httpx.ReadError("reset"),
            httpx.Response(200, json={"runId": 7, "repairId": 70, "watchUrl": "/w"}),
            error(502, "OUTCOME_UNKNOWN"),
            httpx.Response(200, json={"runId": 8, "watchUrl": "/w"}),
        ]
    )
    jobs = client(service)
    repaired = jobs.repair("flaky", 7, ["load"], rerun_dependents=True)
    rerun = jobs.rerun("flaky", 7)
    assert (repaired.run_id, repaired.repair_id, rerun.run_id) == (7, 70, 8)
    assert keys(service) == [repaired.idempotency_key] * 2 + [rerun.idempotency_key] * 2
    assert service.requests[0].url.path == "/api/jobs/flaky/runs/7/repair"
    assert service.requests[0].read() == b'{"tasks":["load"],"rerunDependents":true}'
    assert service.requests[2].url.path == "/api/jobs/flaky/runs/7/rerun"


def test_a_read_is_sent_once(service):
    service.answers.append(httpx.ReadError("reset"))
    with pytest.raises(Unreachable):
        client(service).status("etl")
    assert len(service.requests) == 1


def test_the_api_key_goes_as_a_bearer_token_and_nowhere_else(service):
    service.answers.append(httpx.Response(200, json={"jobs": []}))
    jobs = Client(
        "http://sidecar", api_key="secret-0123456789abcdef", transport=service.transport()
    )
    assert jobs.jobs() == []
    assert service.requests[0].headers["authorization"] == "Bearer secret-0123456789abcdef"
    assert "secret" not in repr(jobs.options)


def test_job_keys_and_run_ids_are_quoted_into_the_path(service):
    service.answers.append(httpx.Response(204))
    client(service).cancel("a/b c", 5)
    assert service.requests[0].url.raw_path == b"/api/jobs/a%2Fb%20c/runs/5"


def test_watch_gives_every_change_once_across_dropped_connections(service):
    service.drops.extend([2, 1])  # the first connection drops after two events, the next after one
    updates = list(client(service).watch("etl", 7))
    assert [u.id for u in updates] == [f"{EPOCH}-{n}" for n in range(1, 6)]
    assert [u.status for u in updates][-1] == "TERMINATED"
    assert service.last_event_ids() == [None, f"{EPOCH}-2", f"{EPOCH}-3"]


def test_watch_resumes_an_earlier_watch_from_its_last_event_id(service):
    updates = list(client(service).watch("etl", 7, last_event_id=f"{EPOCH}-3"))
    assert [u.id for u in updates] == [f"{EPOCH}-4", f"{EPOCH}-5"]


def test_watch_ends_at_once_when_the_caller_has_the_final_event(service):
    assert list(client(service).watch("etl", 7, last_event_id=f"{EPOCH}-5")) == []


def test_watch_ends_with_the_stream_s_error_event(service):
    data = '{"error":"Run 7 did not finish within 10 ms","code":"WAIT_TIMEOUT","plugin":"jobs"}'
    service.run = [service.run[0], f"event: error\ndata: {data}\n\n".encode()]
    with pytest.raises(WatchFailed) as raised:
        list(client(service).watch("etl", 7))
    assert (raised.value.code, raised.value.status) == ("WAIT_TIMEOUT", 0)


def test_watch_of_a_missing_run_raises_its_404(service):
    service.run = None
    with pytest.raises(NotFound) as raised:
        list(client(service).watch("etl", 7))
    assert (raised.value.status, raised.value.code) == (404, "RUN_NOT_FOUND")
    assert len(service.requests) == 1


def test_run_and_wait_returns_the_final_status(service):
    service.answers.append(httpx.Response(200, json={"runId": 7}))
    final = client(service).run_and_wait("etl", {"run_date": "2026-11-29"})
    assert (final.status, final.result, final.run["run_id"]) == ("TERMINATED", "SUCCESS", 7)


def test_run_and_wait_raises_run_failed_for_a_failed_run(service):
    service.answers.append(httpx.Response(200, json={"runId": 7}))
    service.run[-1] = frame(5, "TERMINATED", "FAILED")
    with pytest.raises(RunFailed) as raised:
        client(service).run_and_wait("etl")
    assert (raised.value.run_id, raised.value.result) == (7, "FAILED")
    assert raised.value.run["state"]["result_state"] == "FAILED"


def test_an_answer_that_is_not_the_service_s_json_is_an_error_saying_so(service):
    service.answers.append(httpx.Response(200, text="<html>a login page</html>"))
    with pytest.raises(ServiceFailed) as raised:
        client(service).jobs()
    assert raised.value.code == "INVALID_REPLY"


def test_a_watch_answered_by_something_else_than_a_stream_stops(service):
    page = httpx.Response(200, text="<html>a login page</html>")
    jobs = Client("http://sidecar", transport=httpx.MockTransport(lambda _request: page))
    with pytest.raises(JobsError) as raised:
        list(jobs.watch("etl", 7))
    assert raised.value.code == "NOT_A_STREAM"
