"""The soak's load: watchers that drop and resume on any replica, keyed triggers retried after
lost answers, repairs, cancels, upstream faults and a latency probe; each outcome recorded."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import re
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

FINAL = frozenset({"TERMINATED", "SKIPPED", "INTERNAL_ERROR"})
_STATUS = re.compile(rb'"status":"([A-Z_]+)"')
# The 5xx answers docs/errors.md documents, by status (OUTCOME_UNKNOWN: 503 at shutdown).
DOCUMENTED_5XX = {
    502: {"UPSTREAM_AUTH", "UPSTREAM_UNAVAILABLE", "UPSTREAM_INVALID", "UPSTREAM_TOO_LARGE"}
    | {"OUTCOME_UNKNOWN"},
    503: {"UPSTREAM_THROTTLED", "UNAVAILABLE", "OUTCOME_UNKNOWN"},
    504: {"UPSTREAM_TIMEOUT", "OUTCOME_UNKNOWN"},
}
FAULTS = (  # one burst at a time, from the emulator's fault API
    {"endpoint": "runs/get", "status": 503, "count": 6},
    {"endpoint": "runs/get", "status": 429, "retry_after": 1, "count": 6},
    {"endpoint": "runs/get", "slow_body_ms": 1, "count": 3},
    {"endpoint": "run-now", "status": 503, "count": 2},
)
LOST_ANSWER = {"endpoint": "run-now", "drop": True, "after_effect": True}


@dataclass
class Record:
    """Everything the report is made of."""

    answers: Counter[str] = field(default_factory=Counter)  # "status code" per answer
    bad_5xx: list[str] = field(default_factory=list)  # undocumented, or without their header
    refused: int = 0  # connections refused or cut (a replica killed)
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> job, runIds, tries
    repairs: dict[str, set[int]] = field(default_factory=dict)  # key -> repairIds answered
    sessions: Counter[str] = field(default_factory=Counter)
    session_faults: list[dict[str, Any]] = field(default_factory=list)  # first few, as examples
    watched: dict[int, int] = field(default_factory=dict)  # run -> watchers connected now
    recent: list[tuple[float, int]] = field(default_factory=list)  # (when, steps run)
    latency_ms: list[tuple[float, float]] = field(default_factory=list)  # (when, delay)
    probe_gets: int = 0  # runs/get the probe itself made (subtracted from the emulator's count)
    probed_runs: int = 0  # runs the latency probe followed
    injected: Counter[str] = field(default_factory=Counter)

    def answer(self, response: httpx.Response) -> None:
        code = ""
        if response.status_code >= 400:
            try:
                code = str(response.json().get("code", ""))
            except ValueError:
                code = "NOT_JSON"
        self.answers[f"{response.status_code} {code}".strip()] += 1
        if response.status_code >= 500:
            self.check_5xx(response.status_code, code, response.headers)

    def check_5xx(self, status: int, code: str, headers: Any) -> None:
        problem = None
        if code not in DOCUMENTED_5XX.get(status, set()):
            problem = "undocumented"
        elif code == "OUTCOME_UNKNOWN" and "idempotency-key" not in headers:
            problem = "no Idempotency-Key"
        elif code in ("UPSTREAM_THROTTLED", "UNAVAILABLE") and "retry-after" not in headers:
            problem = "no Retry-After"
        if problem:
            self.bad_5xx.append(f"{status} {code}: {problem}")


class Load:
    """The loops, sharing one record; `urls()` names the replicas to choose from."""

    def __init__(self, record: Record, urls: list[str], emulator_url: str) -> None:
        self.record = record
        self.urls = urls
        self.emulator_url = emulator_url
        self.client = httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=200))

    async def call(self, method: str, url: str, **kw: Any) -> httpx.Response | None:
        try:
            response = await self.client.request(method, url, **kw)
        except (httpx.TransportError, OSError):
            self.record.refused += 1
            return None
        self.record.answer(response)
        return response

    # -- triggers, with their retries -------------------------------------------------------

    async def trigger(self, job: str, *, lost_answer: bool, retried: bool) -> int | None:
        """Run `job` under a fresh key until an answer names the run (bounded); a retried
        trigger asks once more with the same key on another replica."""
        key = uuid.uuid4().hex
        entry: dict[str, Any] = {"job": job, "runs": set(), "tries": 0}
        self.record.keys[key] = entry
        if lost_answer:
            await self.fault(LOST_ANSWER, "lost_answer")
        for attempt in range(40):
            entry["tries"] += 1
            url = random.choice(self.urls)  # noqa: S311 - load, not secrets
            response = await self.call(
                "POST", f"{url}/api/jobs/{job}/run", json={}, headers={"Idempotency-Key": key}
            )
            if response is not None and response.status_code == 200:
                entry["runs"].add(int(response.json()["runId"]))
                if retried and attempt == 0:
                    retried = False
                    continue  # the same key again, on a replica chosen anew
                return min(entry["runs"])
            if response is not None and response.status_code < 500:
                return None  # a refusal: no run, and none should exist (checked)
            await asyncio.sleep(0.5 + random.random())  # noqa: S311
        return None

    async def fault(self, rule: dict[str, Any], name: str) -> None:
        async with httpx.AsyncClient(base_url=self.emulator_url, timeout=10) as emu:
            (await emu.post("/emulator/faults", json=rule)).raise_for_status()
        self.record.injected[name] += 1

    async def triggers(self, every_s: float, until: float, lost_every: int) -> None:
        pending: set[asyncio.Task[None]] = set()
        count = 0
        while time.monotonic() < until:
            count += 1
            job = "flaky" if count % 10 == 0 else "steps"
            lost = count % lost_every == 0
            task = asyncio.create_task(self._one(job, lost, random.random() < 0.25))  # noqa: S311
            pending.add(task)
            task.add_done_callback(pending.discard)
            await asyncio.sleep(every_s)
        await asyncio.gather(*pending)

    async def _one(self, job: str, lost: bool, retried: bool) -> None:
        run_id = await self.trigger(job, lost_answer=lost, retried=retried)
        if run_id is None:
            return
        if job == "steps":
            self.record.recent.append((time.monotonic(), run_id))
            del self.record.recent[:-50]
        else:
            await asyncio.sleep(7)  # the flaky run fails within ~6 s
            await self.repair(run_id)

    async def repair(self, run_id: int) -> None:
        """Repair the failed run, twice under one key on two replicas: one repair."""
        key = uuid.uuid4().hex
        answered = self.record.repairs.setdefault(key, set())
        for _ in range(2):
            for _attempt in range(30):
                url = random.choice(self.urls)  # noqa: S311
                response = await self.call(
                    "POST",
                    f"{url}/api/jobs/flaky/runs/{run_id}/repair",
                    json={},
                    headers={"Idempotency-Key": key},
                )
                if response is not None and response.status_code == 200:
                    answered.add(int(response.json()["repairId"]))
                    break
                code = response.json().get("code") if response is not None else None
                if response is not None and code != "RUN_NOT_FINISHED" and response.is_client_error:
                    return  # nothing to repair (a cancel-all came first): no repair
                await asyncio.sleep(2)

    async def cancels(self, every_s: float, until: float) -> None:
        """A steps run cancelled now and then; every flaky run now and then (cancel-all)."""
        count = 0
        while time.monotonic() < until:
            await asyncio.sleep(every_s)
            count += 1
            url = random.choice(self.urls)  # noqa: S311
            if count % 6 == 0:
                await self.call("DELETE", f"{url}/api/jobs/flaky/runs")
            elif self.record.recent:
                run_id = self.record.recent[-1][1]
                await self.call("DELETE", f"{url}/api/jobs/steps/runs/{run_id}")

    async def faults(self, every_s: float, until: float) -> None:
        count = 0
        while time.monotonic() < until:
            await asyncio.sleep(every_s)
            rule = FAULTS[count % len(FAULTS)]
            count += 1
            await self.fault(rule, f"{rule.get('status', 'slow')} {rule['endpoint']}")

    # -- watchers ----------------------------------------------------------------------------

    async def watcher(self, until: float, hold_s: tuple[float, float]) -> None:
        """Watch recent runs one after another to their end, dropping and resuming."""
        while time.monotonic() < until:
            fresh = [r for t, r in self.record.recent if time.monotonic() - t < 3]
            if not fresh:
                await asyncio.sleep(0.5)
                continue
            await self.session(random.choice(fresh), until + 30, hold_s)  # noqa: S311

    async def session(self, run_id: int, give_up: float, hold_s: tuple[float, float]) -> None:
        ids: list[str] = []
        statuses: list[str] = []
        finals = 0
        resumes = 0
        errors = 0
        while finals == 0 and time.monotonic() < give_up:
            url = random.choice(self.urls)  # noqa: S311
            hold = random.uniform(*hold_s)  # noqa: S311
            self.record.watched[run_id] = self.record.watched.get(run_id, 0) + 1
            try:
                got, ended, error = await self.stream(url, run_id, ids[-1] if ids else None, hold)
            finally:
                self.record.watched[run_id] -= 1
                if not self.record.watched[run_id]:
                    del self.record.watched[run_id]
            errors += error
            for event_id, status in got:
                ids.append(event_id)
                statuses.append(status)
                finals += status in FINAL
            if finals == 0:
                resumes += 1
                await asyncio.sleep(0.1 if ended else 0.3)
        self.record.sessions["sessions"] += 1
        self.record.sessions["resumes"] += resumes
        self.record.sessions["error_events"] += errors
        problems = id_problems(ids)
        if finals == 0:
            self.record.sessions["missed_final"] += 1
        if finals > 1:
            self.record.sessions["final_twice"] += 1
        for name, n in problems.items():
            self.record.sessions[name] += n
        # An epoch change is no fault (Redis lost the run: a fresh start); a session with only
        # that must not take the examples' places from the faulty ones.
        faulty = {name: n for name, n in problems.items() if name != "epoch_changes"}
        if (finals != 1 or faulty) and len(self.record.session_faults) < 20:
            self.record.session_faults.append(
                {"run": run_id, "ids": ids, "statuses": statuses, "finals": finals, **problems}
            )

    async def stream(
        self, url: str, run_id: int, last_id: str | None, hold_s: float
    ) -> tuple[list[tuple[str, str]], bool, int]:
        """One connection: ([(event id, status)], whether the server ended it, error events)."""
        got: list[tuple[str, str]] = []
        errors = 0
        host, port = url.removeprefix("http://").split(":")
        try:
            reader, writer = await asyncio.open_connection(host, int(port), limit=2**20)
        except OSError:
            self.record.refused += 1
            return got, False, 0
        resume = f"Last-Event-ID: {last_id}\r\n" if last_id else ""
        writer.write(
            f"GET /api/jobs/steps/runs/{run_id}/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Accept: text/event-stream\r\n{resume}\r\n".encode()
        )
        ended = False
        try:
            async with asyncio.timeout(hold_s):
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split()[1])
                if status != 200:
                    body = await reader.read(4096)
                    self._raw_answer(status, head, body)
                    return got, True, 0
                self.record.answers["200 watch"] += 1
                buffer = b""
                while True:
                    chunk = await reader.read(65536)
                    if not chunk:
                        ended = True
                        break
                    buffer += chunk
                    while b"\n\n" in buffer:
                        frame, buffer = buffer.split(b"\n\n", 1)
                        errors += b"event: error" in frame
                        parsed = parse_message(frame)
                        if parsed is not None:
                            got.append(parsed)
        except TimeoutError:
            pass  # the watcher drops the stream: it resumes elsewhere
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            self.record.refused += 1
            ended = True
        finally:
            writer.close()
        return got, ended, errors

    def _raw_answer(self, status: int, head: bytes, body: bytes) -> None:
        code = ""
        text = body.split(b"\r\n\r\n")[-1]
        match = re.search(rb'"code":"([A-Z_]+)"', text)
        code = match.group(1).decode() if match else "NOT_JSON"
        self.record.answers[f"{status} {code} (watch)"] += 1
        if status >= 500:
            headers = {
                line.split(b":", 1)[0].strip().lower().decode(): ""
                for line in head.split(b"\r\n")[1:]
                if b":" in line
            }
            self.record.check_5xx(status, code, headers)

    # -- change -> event latency -------------------------------------------------------------

    async def probe(self, until: float, probes: int = 3) -> None:
        """Follow new runs over SSE, `probes` runs at a time: the delay from each upstream state
        change to its event. When each change happened, the emulator says once the run has
        ended: it went RUNNING at start_time + setup_duration, TERMINATING at + execution_duration,
        TERMINATED at end_time (its clock is this machine's; polling it for the change instead
        put the change late, by as long as a read took under load)."""
        probed: set[int] = set()
        headers = {"Authorization": "Bearer dapi-local-dev"}
        async with httpx.AsyncClient(base_url=self.emulator_url, headers=headers) as upstream:
            await asyncio.gather(*(self._probe(upstream, probed, until) for _ in range(probes)))

    async def _probe(self, upstream: httpx.AsyncClient, probed: set[int], until: float) -> None:
        while time.monotonic() < until:
            recent = self.record.recent[-1] if self.record.recent else None
            if recent is None or time.monotonic() - recent[0] > 1 or recent[1] in probed:
                await asyncio.sleep(0.2)
                continue
            run_id = recent[1]
            probed.add(run_id)
            self.record.probed_runs += 1
            arrivals: dict[str, float] = {}
            with contextlib.suppress(TimeoutError, OSError):
                async with asyncio.timeout(60):
                    await self._probe_watch(run_id, arrivals)
            changes = await self._changes(upstream, run_id)
            for state, at_ms in changes.items():
                if state in arrivals:
                    delay = arrivals[state] * 1000 - at_ms
                    self.record.latency_ms.append((time.monotonic(), delay))

    async def _changes(self, upstream: httpx.AsyncClient, run_id: int) -> dict[str, float]:
        """When the ended run went RUNNING, TERMINATING and TERMINATED (ms since the epoch)."""
        for _ in range(5):  # an injected fault may take a read
            self.record.probe_gets += 1
            try:
                run = (
                    await upstream.get("/api/2.1/jobs/runs/get", params={"run_id": run_id})
                ).json()
                if not run.get("end_time"):
                    return {}  # cancelled, or cut short: no timeline to read
                running = run["start_time"] + run["setup_duration"]
                return {
                    "RUNNING": running,
                    "TERMINATING": running + run["execution_duration"],
                    "TERMINATED": run["end_time"],
                }
            except (httpx.HTTPError, KeyError, ValueError):
                await asyncio.sleep(0.5)
        return {}

    async def _probe_watch(self, run_id: int, arrivals: dict[str, float]) -> None:
        url = random.choice(self.urls)  # noqa: S311
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            # Closed after the final event (kept alive, the probe would wait out the idle
            # timeout before following the next run).
            f"GET /api/jobs/steps/runs/{run_id}/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        buffer = b""
        try:
            while chunk := await reader.read(65536):
                buffer += chunk
                while b"\n\n" in buffer:
                    frame, buffer = buffer.split(b"\n\n", 1)
                    match = _STATUS.search(frame)
                    if match and b"event: message" in frame:
                        arrivals.setdefault(match.group(1).decode(), time.time())
        finally:
            writer.close()


def parse_message(frame: bytes) -> tuple[str, str] | None:
    """(id, status) of a `message` event; None for any other frame."""
    if b"event: message" not in frame:
        return None
    event_id = next((x[4:] for x in frame.split(b"\n") if x.startswith(b"id: ")), None)
    match = _STATUS.search(frame)
    if event_id is None or match is None:
        return None
    return event_id.decode(), match.group(1).decode()


def id_problems(ids: list[str]) -> dict[str, int]:
    """Gaps and repeats in a watcher's event ids (`<epoch>-<seq>`; a new epoch starts over)."""
    problems: Counter[str] = Counter()
    for before, after in itertools.pairwise(ids):
        epoch_a, seq_a = before.rsplit("-", 1)
        epoch_b, seq_b = after.rsplit("-", 1)
        if epoch_a != epoch_b:
            problems["epoch_changes"] += 1
        elif int(seq_b) <= int(seq_a):
            problems["repeated_ids"] += 1
        elif int(seq_b) != int(seq_a) + 1:
            problems["id_gaps"] += 1
    return dict(problems)


async def emulator_runs(emulator_url: str, job_ids: list[int]) -> list[int]:
    """Every run the emulator holds of these jobs."""
    runs: list[int] = []
    headers = {"Authorization": "Bearer dapi-local-dev"}
    async with httpx.AsyncClient(base_url=emulator_url, headers=headers, timeout=30) as client:
        for job_id in job_ids:
            token = None
            while True:
                params: dict[str, Any] = {"job_id": job_id, "limit": 25}
                if token:
                    params["page_token"] = token
                page = (await client.get("/api/2.1/jobs/runs/list", params=params)).json()
                runs += [int(r["run_id"]) for r in page.get("runs", [])]
                token = page.get("next_page_token")
                if not token:
                    break
    return runs


async def emulator_stats(emulator_url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=emulator_url, timeout=10) as client:
        stats: dict[str, Any] = (await client.get("/emulator/stats")).json()
    stats.pop("run_now_bodies", None)
    stats.pop("tokens", None)
    return json.loads(json.dumps(stats))
