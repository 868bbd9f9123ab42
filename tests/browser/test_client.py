"""client.js in chromium: a trigger whose outcome is unknown is retried with the same key."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from playwright.async_api import BrowserContext

from service.emulator.faults import FaultRule
from tests.browser.stack import Served, served
from tests.factories import DEMO_JOB_IDS, sse_events

pytestmark = [pytest.mark.looptime(False), pytest.mark.asyncio(loop_scope="session")]
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

# Runs in the page: client.js with a fetch that sends each request for real and then spoils the
# first `spoil` answers as `how` says: lost (a network error after the run started) or replaced.
TRIGGER = """
async ({ how, spoil, reply }) => {
  const { createClient } = await import("/client.js");
  const keys = [];
  const flaky = async (url, init) => {
    keys.push(init.headers["Idempotency-Key"]);
    if (how === "unreachable" && keys.length <= spoil) throw new TypeError("Failed to fetch");
    const response = await fetch(url, init);
    if (keys.length > spoil) return response;
    if (how === "lost") throw new TypeError("Failed to fetch");
    return new Response(JSON.stringify(reply), {
      status: reply.status, headers: { "Content-Type": "application/json" },
    });
  };
  const client = createClient({ fetch: flaky, retries: 2, retryDelayMs: 10 });
  try {
    return { ...(await client.trigger("etl", { run_date: "2026-11-29" })), keys };
  } catch (error) {
    return { error: { name: error.name, status: error.status, code: error.code,
                      message: error.message, key: error.idempotencyKey }, keys };
  }
}
"""


async def trigger(browser: BrowserContext, s: Served, **spoiling: Any) -> dict[str, Any]:
    page = await browser.new_page()
    await page.goto(f"{s.url}/client.js")  # any page of the service's origin
    return await page.evaluate(TRIGGER, {"how": "lost", "spoil": 1, "reply": {}, **spoiling})  # type: ignore[no-any-return]


def etl_runs(s: Served) -> list[int]:
    return [run.run_id for run in s.runs_of(DEMO_JOB_IDS["etl"])]


async def test_a_lost_answer_is_retried_with_the_same_key_and_starts_one_run(browser):
    async with served(speed=10) as s:
        got = await trigger(browser, s, how="lost", spoil=1)
        assert etl_runs(s) == [got["runId"]]
    first, second = got["keys"]
    assert first == second == got["idempotencyKey"]
    assert UUID.match(first)


async def test_outcome_unknown_is_retried_with_the_same_key_and_starts_one_run(browser):
    reply = {"status": 502, "error": "lost", "code": "OUTCOME_UNKNOWN", "plugin": "jobs"}
    async with served(speed=10) as s:
        got = await trigger(browser, s, how="replaced", spoil=2, reply=reply)
        assert etl_runs(s) == [got["runId"]]
    assert len(set(got["keys"])) == 1
    assert len(got["keys"]) == 3


async def test_an_unreachable_service_is_retried_a_bounded_number_of_times(browser):
    async with served(speed=10) as s:
        got = await trigger(browser, s, how="unreachable", spoil=10)
        assert etl_runs(s) == []
    key = got["keys"][0]
    assert got["keys"] == [key] * 3  # the first try and two retries
    assert got["error"] == {
        "name": "JobsError",
        "status": 0,
        "code": "NETWORK",
        "message": "The service could not be reached",
        "key": key,
    }


@pytest.mark.parametrize(
    "reply",
    [
        {"status": 502, "error": "Databricks is unavailable", "code": "UPSTREAM_UNAVAILABLE"},
        {"status": 400, "error": "Invalid parameters", "code": "BAD_REQUEST"},
    ],
)
async def test_other_errors_are_not_retried(browser, reply):
    async with served(speed=10) as s:
        got = await trigger(browser, s, how="replaced", spoil=1, reply=reply)
    assert len(got["keys"]) == 1
    assert got["error"]["status"] == reply["status"]
    assert (got["error"]["code"], got["error"]["message"]) == (reply["code"], reply["error"])


async def test_errors_from_the_service_are_objects_with_status_code_and_message(browser):
    async with served(speed=10) as s:
        page = await browser.new_page()
        await page.goto(f"{s.url}/client.js")
        got = await page.evaluate(
            """async () => {
                const { createClient, JobsError } = await import("/client.js");
                const client = createClient();
                const failures = [
                  client.status("nope"),
                  client.trigger("report", { region: "mars", year: 2026 }),
                  client.run("etl", 123),
                ];
                return Promise.all(failures.map((call) => call.then(
                  () => null,
                  (e) => ({ isError: e instanceof JobsError && e instanceof Error,
                            status: e.status, code: e.code, fields: e.fields }))));
            }"""
        )
        assert s.emulator.runs == {}
    assert got == [
        {"isError": True, "status": 404, "code": "UNKNOWN_JOB", "fields": []},
        {
            "isError": True,
            "status": 400,
            "code": "BAD_REQUEST",
            "fields": [
                {
                    "field": "region",
                    "message": "must be one of: emea, amer, apac",
                    "detail": "Invalid enum value 'mars'",
                }
            ],
        },
        {"isError": True, "status": 404, "code": "RUN_NOT_FOUND", "fields": []},
    ]


async def test_a_page_without_crypto_random_uuid_still_sends_a_uuid_key(browser):
    """Plain-HTTP pages off localhost have no crypto.randomUUID (it needs a secure context)."""
    async with served(speed=10) as s:
        page = await browser.new_page()
        await page.goto(f"{s.url}/client.js")
        got = await page.evaluate(
            """async () => {
                Object.defineProperty(Crypto.prototype, "randomUUID", { value: undefined });
                const { createClient } = await import("/client.js");
                const keys = [];
                const recording = (url, init) => {
                  keys.push(init.headers["Idempotency-Key"]);
                  return fetch(url, init);
                };
                const client = createClient({ fetch: recording });
                await client.trigger("etl", { run_date: "2026-11-29" });
                await client.trigger("etl", { run_date: "2026-11-29" });
                return { keys, hasRandomUUID: typeof crypto.randomUUID };
            }"""
        )
        assert len(s.runs_of(DEMO_JOB_IDS["etl"])) == 2  # two keys: two runs
    assert got["hasRandomUUID"] == "undefined"
    assert all(UUID.match(key) for key in got["keys"])
    assert got["keys"][0] != got["keys"][1]


async def test_watch_reports_the_streams_error_event_once_and_stops(browser):
    async with served(speed=1) as s:
        page = await browser.new_page()
        await page.goto(f"{s.url}/client.js")
        await page.evaluate(
            """async () => {
                const { createClient } = await import("/client.js");
                const client = createClient();
                const { runId } = await client.trigger("etl", { run_date: "2026-11-29" });
                window.events = [];
                const seen = (event) => event.type === "error"
                  ? { type: "error", code: event.error.code, isError: event.error instanceof Error }
                  : { type: event.type, status: event.status, result: event.result };
                window.watching = client.watch("etl", runId, (e) => window.events.push(seen(e)));
            }"""
        )
        await page.wait_for_function("() => window.events.length > 0")
        # Databricks fails every poll from now on: the service gives up and says so.
        s.emulator.add_fault(FaultRule(endpoint="runs/get", status=503, count=1000))
        last = await page.evaluate(
            "window.watching.done.then((e) => ({ type: e.type, code: e.error.code }))"
        )
        events = await page.evaluate("window.events")
    assert events[0] == {"type": "update", "status": "PENDING", "result": None}
    assert events[-1] == {"type": "error", "code": "UPSTREAM_UNAVAILABLE", "isError": True}
    assert last == {"type": "error", "code": "UPSTREAM_UNAVAILABLE"}
    assert [e["type"] for e in events].count("error") == 1


# Runs in the page: a verb of client.js (repair or rerun) whose first `spoil` answers are lost
# after the request reached the service.
LOSING = """
async ({ verb, args, spoil }) => {
  const { createClient } = await import("/client.js");
  const keys = [];
  const losing = async (url, init) => {
    keys.push(init.headers["Idempotency-Key"]);
    const response = await fetch(url, init);
    if (keys.length <= spoil) throw new TypeError("Failed to fetch");
    return response;
  };
  const client = createClient({ fetch: losing, retries: 2, retryDelayMs: 10 });
  return { ...(await client[verb](...args)), keys };
}
"""


async def failed_flaky_run(s: Served) -> int:
    async with httpx.AsyncClient(base_url=s.url, timeout=20) as api:
        stream = await api.post("/api/jobs/flaky/run?stream=true", json={})
    return int(json.loads(sse_events(stream.text)[0]["data"])["runId"])


async def test_a_lost_repair_answer_is_retried_with_the_same_key_and_makes_one_repair(browser):
    async with served(speed=40) as s:
        run_id = await failed_flaky_run(s)
        page = await browser.new_page()
        await page.goto(f"{s.url}/client.js")
        args = ["flaky", run_id, {"tasks": ["load"], "rerunDependents": True}]
        got = await page.evaluate(LOSING, {"verb": "repair", "args": args, "spoil": 1})
        repairs = [repair.id for repair in s.emulator.runs[run_id].repairs]
    first, second = got["keys"]
    assert first == second == got["idempotencyKey"]
    assert UUID.match(first)
    assert repairs == [got["repairId"]]
    assert (got["runId"], got["watchUrl"]) == (run_id, f"/api/jobs/flaky/runs/{run_id}/events")


async def test_a_lost_rerun_answer_is_retried_with_the_same_key_and_starts_one_run(browser):
    async with served(speed=40) as s:
        run_id = await failed_flaky_run(s)
        page = await browser.new_page()
        await page.goto(f"{s.url}/client.js")
        got = await page.evaluate(LOSING, {"verb": "rerun", "args": ["flaky", run_id], "spoil": 1})
        runs = sorted(run.run_id for run in s.runs_of(DEMO_JOB_IDS["flaky"]))
    assert len(set(got["keys"])) == 1
    assert len(got["keys"]) == 2
    assert runs == [run_id, got["runId"]]


async def test_cancel_all_cancels_and_all_runs_lists_every_job(browser):
    async with served(speed=1) as s:
        page = await browser.new_page()
        await page.goto(f"{s.url}/client.js")
        got = await page.evaluate(
            """async () => {
                const { createClient } = await import("/client.js");
                const client = createClient();
                await client.trigger("etl", { run_date: "2026-11-29" });
                await client.trigger("pipeline");
                const before = await client.allRuns({ active: true });
                await client.cancelAll("etl");
                const after = await client.allRuns({ limit: 5 });
                return { before: before.map((r) => r.jobKey).sort(),
                         after: after.map((r) => [r.jobKey, r.result]) };
            }"""
        )
    assert got["before"] == ["etl", "pipeline"]
    assert ["etl", "CANCELED"] in got["after"]
    assert ["pipeline", None] in got["after"]


# Runs in the page: a watch read with fetch (it sends headers), whose first stream drops after
# its first complete event; what it emitted, and what each stream request sent.
DROPPING = """
async () => {
  const { createClient } = await import("/client.js");
  const calls = [];
  const dropping = async (url, init) => {
    const response = await fetch(url, init);
    if (!url.endsWith("/events")) return response;
    const sent = init.headers;
    calls.push({ lastEventId: sent["Last-Event-ID"] ?? null, test: sent["X-Test"] });
    if (calls.length > 1) return response;
    const reader = response.body.getReader();
    let seen = "";
    let drop = false;
    const body = new ReadableStream({
      async pull(controller) {
        if (drop) {
          reader.cancel();
          controller.error(new TypeError("network error"));
          return;
        }
        const { value, done } = await reader.read();
        if (done) return controller.close();
        controller.enqueue(value);
        seen += new TextDecoder().decode(value);
        // Dropped once a whole event (an id and its data, then a blank line) has been read.
        const whole = seen.split("\\n\\n").slice(0, -1);
        drop = whole.some((frame) => /^id: /m.test(frame) && /^data: /m.test(frame));
      },
    });
    return new Response(body, { status: response.status, headers: response.headers });
  };
  const client = createClient({ fetch: dropping, headers: { "X-Test": "yes" } });
  const { runId } = await client.trigger("pipeline", {});
  const events = [];
  const watching = client.watch("pipeline", runId, (e) => events.push(
    e.type === "update" ? { id: e.id, status: e.status, result: e.result } : e.error.code));
  const last = await watching.done;
  return { events, calls, last: last.result, lastEventId: watching.lastEventId };
}
"""


async def test_a_watch_read_with_fetch_resumes_after_a_drop_from_the_last_event_id(browser):
    async with served(speed=10) as s:
        page = await browser.new_page()
        await page.goto(f"{s.url}/client.js")
        got = await page.evaluate(DROPPING)
    events, calls = got["events"], got["calls"]
    assert len(calls) == 2
    assert calls[0] == {"lastEventId": None, "test": "yes"}  # headers go with the stream
    assert calls[1] == {"lastEventId": events[0]["id"], "test": "yes"}
    statuses = [e["status"] for e in events]
    assert (statuses[0], statuses[-1]) == ("PENDING", "TERMINATED")
    assert "TERMINATING" in statuses
    assert len({e["id"] for e in events}) == len(events)  # each event once
    assert (got["last"], got["lastEventId"]) == ("SUCCESS", events[-1]["id"])


async def test_a_watch_read_with_fetch_reports_a_refused_stream_as_an_error(browser):
    async with served(speed=10) as s:
        page = await browser.new_page()
        await page.goto(f"{s.url}/client.js")
        got = await page.evaluate(
            """async () => {
                const { createClient } = await import("/client.js");
                const client = createClient({ stream: "fetch" });
                const events = [];
                const watching = client.watch("etl", 424242, (e) => events.push(e));
                const last = await watching.done;
                return { events: events.map((e) => [e.type, e.error.status, e.error.code]),
                         last: last.type };
            }"""
        )
    assert got == {"events": [["error", 404, "RUN_NOT_FOUND"]], "last": "error"}
