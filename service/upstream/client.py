"""`JobsClient`: the Jobs API 2.1 calls we make, returning structs and raising only our errors."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import httpx
import msgspec

from service.basics.errors import (
    OutcomeUnknown,
    UpstreamAuthFailed,
    UpstreamError,
    UpstreamInvalid,
    UpstreamNotFound,
    UpstreamRejected,
    UpstreamThrottled,
    UpstreamTimeout,
    UpstreamTooLarge,
    UpstreamUnavailable,
)
from service.basics.logs import library_logger, upstream_text
from service.upstream.auth import Identity
from service.upstream.reply import parse_retry_after, read_capped, read_head, type_problem
from service.upstream.retry import POLL, READ, SAFE_WRITE, WRITE, RetryPolicy, Tier
from service.upstream.wire import (
    ErrorReply,
    Principal,
    RunPage,
    RunSnapshot,
    decode_job,
    decode_object,
    decode_output,
    decode_page,
    decode_repair,
    decode_run,
    decode_run_now,
)

API = "/api/2.1/jobs"
SCIM_ME = "/api/2.0/preview/scim/v2/Me"
MAX_ERROR_BYTES = 64 * 1024  # of an error reply we read only the message
T = TypeVar("T")
_log = library_logger("service.upstream")
_error_decoder = msgspec.json.Decoder(ErrorReply)
_principal_decoder = msgspec.json.Decoder(Principal)
_encoder = msgspec.json.Encoder()
# Raised before a request leaves: whatever else fails may have reached Databricks.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class JobsClient:
    """The upstream boundary: one method per Jobs API verb; no httpx type leaves this class.

    Every 2xx reply is read (streamed, at most `max_reply_bytes`) and checked by its verb's
    decoder inside the attempt: a reply that is not what it claims never reaches the cache or
    a client, and a retrying tier tries again.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        policy: RetryPolicy,
        *,
        max_reply_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        self._http = http
        self._policy = policy
        self._max_bytes = max_reply_bytes
        self.calls: Counter[tuple[str, str]] = Counter()  # (verb, status or error) for metrics

    async def run_now(self, identity: Identity, body: Mapping[str, Any], *, tier: Tier) -> int:
        """Trigger a run; `tier` is SAFE_WRITE only when the body carries an idempotency token.

        Raises OutcomeUnknown when no attempt answered with the run but one may have started it
        (sent, then the connection was lost, the answer timed out, a 5xx or an unreadable 2xx).
        """
        return await self._write_once(
            identity,
            "run-now",
            body,
            decode_run_now,
            tier=tier,
            lost="Databricks may have started the run, but its answer was lost. Retry with this "
            "Idempotency-Key to get that run (or start it once)",
        )

    async def repair_run(self, identity: Identity, body: Mapping[str, Any], *, tier: Tier) -> int:
        """Run tasks of a finished run again (runs/repair); the repair's id.

        Safe to retry (SAFE_WRITE) when the body names the latest repair: once one attempt's
        repair is registered, the next is refused as stale. Raises OutcomeUnknown as run-now
        does when an attempt may have repaired the run and none answered.
        """
        return await self._write_once(
            identity,
            "runs/repair",
            body,
            decode_repair,
            tier=tier,
            lost="Databricks may have repaired the run, but its answer was lost. Retry with "
            "this Idempotency-Key to get that repair (or make it once)",
        )

    async def _write_once(
        self,
        identity: Identity,
        verb: str,
        body: Mapping[str, Any],
        decode: Callable[[bytes], int],
        *,
        tier: Tier,
        lost: str,
    ) -> int:
        content = _encoder.encode(body)
        reached = False

        async def attempt(seconds: float) -> int:
            nonlocal reached
            try:
                reply = await self._send(
                    identity,
                    "POST",
                    verb,
                    params=None,
                    content=content,
                    budget_s=seconds,
                    path=f"{API}/{verb}",
                )
                return _decoded(decode, reply, verb)
            except UpstreamError as exc:
                reached = reached or may_have_run(exc)
                raise
            except BaseException:  # cut off mid-call (attempt deadline): it may have been sent
                reached = True
                raise

        try:
            return await self._policy.call(tier, attempt, verb=verb)
        except UpstreamError as exc:
            if not reached:
                raise
            raise OutcomeUnknown(
                lost,
                status=504 if isinstance(exc, UpstreamTimeout) else 502,
                detail=exc.detail,
                retry_after=exc.retry_after,
            ) from exc

    async def get_run(
        self, identity: Identity, run_id: int, *, tier: Tier = READ, include_history: bool = False
    ) -> RunSnapshot:
        params: dict[str, str | int] = {"run_id": run_id}
        if include_history:
            params["include_history"] = "true"
        return await self._call(identity, tier, "GET", "runs/get", decode_run, params=params)

    async def poll_run(self, identity: Identity, run_id: int) -> RunSnapshot:
        return await self.get_run(identity, run_id, tier=POLL)

    async def list_runs(
        self,
        identity: Identity,
        job_id: int,
        *,
        limit: int,
        page_token: str | None = None,
        active_only: bool = False,
        expand_tasks: bool = False,
    ) -> RunPage:
        params: dict[str, str | int] = {"job_id": job_id, "limit": limit}
        if page_token:
            params["page_token"] = page_token
        if active_only:
            params["active_only"] = "true"
        if expand_tasks:
            params["expand_tasks"] = "true"
        return await self._call(identity, READ, "GET", "runs/list", decode_page, params=params)

    async def cancel_run(self, identity: Identity, run_id: int, *, tier: Tier = WRITE) -> None:
        content = _encoder.encode({"run_id": run_id})
        await self._call(identity, tier, "POST", "runs/cancel", decode_object, content=content)

    async def cancel_all_runs(
        self, identity: Identity, job_id: int, *, tier: Tier = SAFE_WRITE
    ) -> None:
        """Cancel every active run of the job (asynchronously, as runs/cancel does)."""
        content = _encoder.encode({"job_id": job_id})
        await self._call(identity, tier, "POST", "runs/cancel-all", decode_object, content=content)

    async def get_run_output(self, identity: Identity, run_id: int) -> msgspec.Raw:
        params = {"run_id": run_id}
        return await self._call(
            identity, READ, "GET", "runs/get-output", decode_output, params=params
        )

    async def get_job(self, identity: Identity, job_id: int, *, tier: Tier = READ) -> msgspec.Raw:
        params = {"job_id": job_id}
        return await self._call(identity, tier, "GET", "get", decode_job, params=params)

    async def me(self, identity: Identity) -> Principal:
        """SCIM `Me`: whom the identity's token belongs to (a read, retried in the read tier)."""
        return await self._call(
            identity, READ, "GET", "scim/me", _principal_decoder.decode, path=SCIM_ME
        )

    async def list_jobs(self, identity: Identity, *, limit: int, tier: Tier = READ) -> None:
        """`jobs/list`, read only for its answer: the cheapest authenticated call there is."""
        await self._call(identity, tier, "GET", "list", decode_object, params={"limit": limit})

    async def _call(
        self,
        identity: Identity,
        tier: Tier,
        method: str,
        verb: str,
        decode: Callable[[bytes], T],
        *,
        params: Mapping[str, str | int] | None = None,
        content: bytes | None = None,
        path: str | None = None,
    ) -> T:
        async def attempt(seconds: float) -> T:
            body = await self._send(
                identity,
                method,
                verb,
                params=params,
                content=content,
                budget_s=seconds,
                path=path or f"{API}/{verb}",
            )
            return _decoded(decode, body, verb)

        return await self._policy.call(tier, attempt, verb=verb)

    async def _send(
        self,
        identity: Identity,
        method: str,
        verb: str,
        *,
        params: Mapping[str, str | int] | None,
        content: bytes | None,
        budget_s: float,
        path: str,
    ) -> bytes:
        headers = {"Content-Type": "application/json"} if content is not None else None
        request = self._http.build_request(
            method,
            path,
            params=params,
            content=content,
            headers=headers,
            timeout=budget_s,
        )
        started = time.perf_counter()
        try:
            # Streamed: the body is counted as it arrives and never read past the cap. An auth
            # flow that reads bodies (httpx.Auth.requires_response_body) still works: httpx
            # reads its intermediate replies, and a body already read streams from memory.
            response = await self._http.send(request, auth=identity.auth, stream=True)
            try:
                ok = 200 <= response.status_code < 300
                problem = type_problem(response.headers) if ok else None
                if problem is not None:
                    body = b""  # a login page: nothing in it is worth reading
                elif ok:
                    body = await read_capped(response, self._max_bytes, verb=verb)
                else:
                    body = await read_head(response, MAX_ERROR_BYTES)
            finally:
                await response.aclose()
        except httpx.TimeoutException as exc:
            self.calls[verb, "timeout"] += 1
            _log.warning("upstream.timeout", verb=verb, identity=identity.key)
            raise UpstreamTimeout(
                "Databricks did not answer in time", detail=type(exc).__name__
            ) from exc
        except UpstreamTooLarge:
            self.calls[verb, "too_large"] += 1
            raise
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
        if problem is not None:
            _log.warning(
                "upstream.invalid_reply", verb=verb, status=response.status_code, reason=problem
            )
            raise UpstreamInvalid(
                "Databricks sent an invalid reply",
                upstream_status=response.status_code,
                detail=problem,
            )
        if not ok:
            # A 3xx (we follow no redirects: a login page, a proxy) is as unusable as a 5xx.
            error = upstream_error(
                response.status_code,
                body,
                response.headers,
                wall_s=self._policy.clock.wall_ms() / 1000,
            )
            # A missing run or job is the caller's answer, not a fault of ours or upstream's.
            log = _log.info if isinstance(error, UpstreamNotFound) else _log.warning
            log(
                "upstream.request_failed",
                verb=verb,
                status=response.status_code,
                upstream_code=error.upstream_code,
                upstream_message=error.detail,
                identity=identity.key,
            )
            raise error
        return body


def _decoded(decode: Callable[[bytes], T], body: bytes, verb: str) -> T:
    """Check and decode a 2xx body; one that is not what the verb promises is a 502."""
    try:
        return decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        reason = upstream_text(str(exc))
        _log.warning("upstream.invalid_reply", verb=verb, reason=reason)
        raise UpstreamInvalid("Databricks sent an invalid reply", detail=reason) from exc


def may_have_run(exc: UpstreamError) -> bool:
    """Could Databricks have started a run for a run-now that failed with `exc`?

    A 5xx may come after the run was created; a 4xx (429 included) or 3xx is a refusal; a
    transport failure is a loss unless the request never left (no connection was made).
    """
    if exc.upstream_status is not None:
        return exc.upstream_status >= 500
    return not isinstance(exc.__cause__, _NEVER_SENT)


def upstream_error(
    status: int, body: bytes, headers: Mapping[str, str], *, wall_s: float
) -> UpstreamError:
    """Turn a Jobs API error response into our exception; its text is kept for the log only."""
    try:
        reply = _error_decoder.decode(body) if body else ErrorReply()
    except msgspec.DecodeError:
        reply = ErrorReply()
    code = None if reply.error_code is None else upstream_text(str(reply.error_code))
    message = upstream_text(reply.message) or ""
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
        retry_after = parse_retry_after(headers.get("retry-after"), wall_s=wall_s)
        return UpstreamThrottled(
            "Databricks is throttling requests; retry later",
            retry_after=1.0 if retry_after is None else retry_after,  # the SDK's default too
            **kw,
        )
    if status >= 500 or status < 400:
        return UpstreamUnavailable("Databricks is unavailable", **kw)
    return UpstreamRejected("Databricks rejected the request", **kw)
