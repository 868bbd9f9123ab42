"""An error of the tree as its JSON response: the body, its status, Retry-After, Idempotency-Key.

The one mapping from an exception to a response: the front door's refusals (401, 403, 408, 413)
send it before routing, and the app's exception handler (service.web.error_handlers) after.
"""

from __future__ import annotations

import math

from starlette.responses import JSONResponse, Response

from service.basics.errors import SidecarError, error_body


def error_response(exc: SidecarError) -> Response:
    """The JSON answer to `exc`: `error_body`, with the headers the error carries."""
    headers = {}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    if exc.idempotency_key is not None:
        headers["Idempotency-Key"] = exc.idempotency_key
    return JSONResponse(error_body(exc), status_code=exc.status, headers=headers)
