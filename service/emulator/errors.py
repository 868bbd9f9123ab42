"""Errors the way Databricks answers them: `{"error_code", "message"}` JSON with the right status.

ApiError                   400/404/409/...: a string error_code, as the Jobs API sends
├── InvalidParameter       400 INVALID_PARAMETER_VALUE (also "Job/Run N does not exist.")
└── MalformedRequest       400 MALFORMED_REQUEST (a body that is not the expected JSON)
AuthError                  401/403 with a numeric error_code, as the auth layer sends
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

UNAUTHENTICATED = "Credential was not sent or was of an unsupported type for this API."
INVALID_TOKEN = "Invalid access token."  # noqa: S105 - an error message, not a secret
_REASON_HEADER = "X-Databricks-Reason-Phrase"


class ApiError(Exception):
    """A request the emulated workspace refuses."""

    def __init__(
        self,
        status: int,
        error_code: str,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.headers = dict(headers or {})


class InvalidParameter(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__(400, "INVALID_PARAMETER_VALUE", message)


class MalformedRequest(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__(400, "MALFORMED_REQUEST", message)


class AuthError(Exception):
    """Refused credentials: 401 when none were sent, 403 when they are not valid."""

    def __init__(self, status: int) -> None:
        super().__init__(UNAUTHENTICATED if status == 401 else INVALID_TOKEN)
        self.status = status

    def response(self) -> Response:
        message = str(self)
        headers = {_REASON_HEADER: message} if self.status == 403 else None
        return json_response({"error_code": self.status, "message": message}, self.status, headers)


def job_not_found(job_id: int) -> InvalidParameter:
    return InvalidParameter(f"Job {job_id} does not exist.")


def run_not_found(run_id: int) -> InvalidParameter:
    return InvalidParameter(f"Run {run_id} does not exist.")


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """Every answer is JSON, encoded by msgspec (structs, dicts and lists alike)."""
    return Response(
        msgspec.json.encode(body), status, headers=headers, media_type="application/json"
    )


def error_response(error: ApiError) -> Response:
    body = {"error_code": error.error_code, "message": error.message}
    return json_response(body, error.status, error.headers)


async def handle_api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)  # noqa: S101 - registered for ApiError only
    return error_response(exc)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods get the workspace's JSON 404, never Starlette's plain text."""
    assert isinstance(exc, HTTPException)  # noqa: S101 - registered for HTTPException only
    if exc.status_code in (404, 405):
        path = request.url.path.removeprefix("/api")
        message = f"No API found for '{request.method} {path}'"
        return error_response(ApiError(404, "ENDPOINT_NOT_FOUND", message))
    return error_response(ApiError(exc.status_code, "BAD_REQUEST", str(exc.detail)))


async def handle_unexpected(_request: Request, _exc: Exception) -> Response:
    """A bug in the emulator still answers JSON (Starlette re-raises it for the server's log).

    The message avoids "Unexpected error", which the Databricks SDK retries for minutes.
    """
    return error_response(ApiError(500, "INTERNAL_ERROR", "The emulator failed on this request."))
