"""`JobsClient`: the six Jobs API 2.1 calls, returning structs and raising only our errors."""

from __future__ import annotations

import email.utils
import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import msgspec

from service.errors import (
    UpstreamAuthFailed,
    UpstreamError,
    UpstreamNotFound,
    UpstreamRejected,
    UpstreamThrottled,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from service.identity import Identity
from service.logs import library_logger
from service.upstream.retry import POLL, READ, WRITE, RetryPolicy, Tier
from service.upstream.wire import (
    ErrorReply,
    RunNowReply,
    RunPage,
    RunSnapshot,
    decode_page,
    decode_run,
)

API = "/api/2.1/jobs"
MAX_RETRY_AFTER_S = 3600.0
T = TypeVar("T")
_log = library_logger("service.upstream")
_error_decoder = msgspec.json.Decoder(ErrorReply)
_run_now_decoder = msgspec.json.Decoder(RunNowReply)
_encoder = msgspec.json.Encoder()


class JobsClient:
    """The upstream boundary: one method per Jobs API verb; no httpx type leaves this class."""

    def __init__(
        self, http: httpx.AsyncClient, policy: RetryPolicy, *, attempt_timeout_s: float = 60.0
    ) -> None:
        self._http = http
        self._policy = policy
        self._attempt_timeout = attempt_timeout_s
        self.calls: Counter[tuple[str, str]] = Counter()  # (verb, status or error) for metrics

    async def run_now(self, identity: Identity, body: Mapping[str, Any], *, tier: Tier) -> int:
        """Trigger a run; `tier` is SAFE_WRITE only when the body carries an idempotency token."""
        content = _encoder.encode(body)
        reply = await self._call(identity, tier, "POST", "run-now", content=content)
        return _decoded(_run_now_decoder.decode, reply, "run-now").run_id

    async def get_run(self, identity: Identity, run_id: int, *, tier: Tier = READ) -> RunSnapshot:
        body = await self._call(identity, tier, "GET", "runs/get", params={"run_id": run_id})
        return _decoded(decode_run, body, "runs/get")

    async def poll_run(self, identity: Identity, run_id: int) -> RunSnapshot:
        return await self.get_run(identity, run_id, tier=POLL)

    async def list_runs(
        self, identity: Identity, job_id: int, *, limit: int, page_token: str | None = None
    ) -> RunPage:
        params: dict[str, str | int] = {"job_id": job_id, "limit": limit}
        if page_token:
            params["page_token"] = page_token
        body = await self._call(identity, READ, "GET", "runs/list", params=params)
        return _decoded(decode_page, body, "runs/list")

    async def cancel_run(self, identity: Identity, run_id: int, *, tier: Tier = WRITE) -> None:
        content = _encoder.encode({"run_id": run_id})
        await self._call(identity, tier, "POST", "runs/cancel", content=content)

    async def get_run_output(self, identity: Identity, run_id: int) -> msgspec.Raw:
        body = await self._call(identity, READ, "GET", "runs/get-output", params={"run_id": run_id})
        return msgspec.Raw(body)

    async def get_job(self, identity: Identity, job_id: int) -> msgspec.Raw:
        body = await self._call(identity, READ, "GET", "get", params={"job_id": job_id})
        return msgspec.Raw(body)

    async def list_jobs(self, identity: Identity, *, limit: int, tier: Tier = READ) -> None:
        """`jobs/list`, read only for its answer: the cheapest authenticated call there is."""
        await self._call(identity, tier, "GET", "list", params={"limit": limit})

    async def _call(
        self,
        identity: Identity,
        tier: Tier,
        method: str,
        verb: str,
        *,
        params: Mapping[str, str | int] | None = None,
        content: bytes | None = None,
    ) -> bytes:
        async def attempt(time_left: float) -> bytes:
            timeout = min(self._attempt_timeout, time_left)
            return await self._send(
                identity, method, verb, params=params, content=content, budget_s=timeout
            )

        return await self._policy.call(tier, attempt)

    async def _send(
        self,
        identity: Identity,
        method: str,
        verb: str,
        *,
        params: Mapping[str, str | int] | None,
        content: bytes | None,
        budget_s: float,
    ) -> bytes:
        headers = {"Content-Type": "application/json"} if content is not None else None
        started = time.perf_counter()
        try:
            response = await self._http.request(
                method,
                f"{API}/{verb}",
                params=params,
                content=content,
                headers=headers,
                auth=identity.auth,
                timeout=budget_s,
            )
        except httpx.TimeoutException as exc:
            self.calls[verb, "timeout"] += 1
            _log.warning("upstream.timeout", verb=verb, identity=identity.key)
            raise UpstreamTimeout(
                "Databricks did not answer in time", detail=type(exc).__name__
            ) from exc
        except httpx.TransportError as exc:
            self.calls[verb, "transport_error"] += 1
            _log.warning("upstream.unreachable", verb=verb, error=type(exc).__name__)
            raise UpstreamUnavailable(
                "Databricks is unreachable", detail=type(exc).__name__
            ) from exc
        elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
        self.calls[verb, str(response.status_code)] += 1
        _log.debug(
            "upstream.request",
            verb=verb,
            status=response.status_code,
            duration_ms=elapsed_ms,
            identity=identity.key,
        )
        if not 200 <= response.status_code < 300:
            # A 3xx (we follow no redirects: a login page, a proxy) is as unusable as a 5xx.
            error = upstream_error(response.status_code, response.content, response.headers)
            _log.warning(
                "upstream.request_failed",
                verb=verb,
                status=response.status_code,
                upstream_code=error.upstream_code,
                upstream_message=error.detail,
                identity=identity.key,
            )
            raise error
        return response.content


def _decoded(decode: Callable[[bytes], T], body: bytes, verb: str) -> T:
    """Decode a 2xx body; one we cannot read is an unavailable upstream, not a crash."""
    try:
        return decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        _log.warning("upstream.unreadable_reply", verb=verb, error=type(exc).__name__)
        raise UpstreamUnavailable("Databricks sent an unreadable reply", detail=verb) from exc


def upstream_error(status: int, body: bytes, headers: Mapping[str, str]) -> UpstreamError:
    """Turn a Jobs API error response into our exception; its text is kept for the log only."""
    try:
        reply = _error_decoder.decode(body) if body else ErrorReply()
    except msgspec.DecodeError:
        reply = ErrorReply()
    code = None if reply.error_code is None else str(reply.error_code)
    message = (reply.message or "")[:300]
    kw: dict[str, Any] = {"upstream_status": status, "upstream_code": code, "detail": message}
    not_found = status == 404 or (
        status == 400
        and code in ("INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST")
        and ("does not exist" in message or "doesn't exist" in message)
    )
    if not_found:
        return UpstreamNotFound("Not found", **kw)
    if status in (401, 403):
        return UpstreamAuthFailed("Databricks refused the request's credentials", **kw)
    if status == 429:
        retry_after = parse_retry_after(headers.get("retry-after"))
        return UpstreamThrottled(
            "Databricks is throttling requests; retry later",
            retry_after=1.0 if retry_after is None else retry_after,  # the SDK's default too
            **kw,
        )
    if status >= 500 or status < 400:
        return UpstreamUnavailable("Databricks is unavailable", **kw)
    return UpstreamRejected("Databricks rejected the request", **kw)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date; None if absent/junk.

    At most MAX_RETRY_AFTER_S: a wait beyond it is a broken header, not advice to follow.
    """
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_S)  # 400 digits make float('inf')
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max(0.0, (when - datetime.now(UTC)).total_seconds()), MAX_RETRY_AFTER_S)
