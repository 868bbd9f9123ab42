"""The body of a run request, `{"params": {...}}`: decoded, its shape checked, params taken out."""

from __future__ import annotations

from typing import Any

import msgspec

from service.basics.errors import InvalidRequest


def _whole_number(text: str) -> float | int:
    """JSON Schema (so the API document) and JavaScript count `5.0` as an integer: read a whole
    number as an int, within 2**53 (beyond it a float is not exact)."""
    value = float(text)
    return int(value) if value.is_integer() and abs(value) <= 2**53 else value


_body_decoder = msgspec.json.Decoder(float_hook=_whole_number)


def run_params(body: bytes) -> Any:
    """The `params` of a run request's body (None when absent); a 400 for any other shape."""
    if not body.strip():
        return None
    try:
        payload = _body_decoder.decode(body)
    except msgspec.DecodeError:
        raise InvalidRequest("Request body must be valid JSON") from None
    except RecursionError:  # msgspec's depth guard: ~1,000 nested arrays or objects
        raise InvalidRequest("Request body is nested too deeply") from None
    if not isinstance(payload, dict):
        raise InvalidRequest("Request body must be a JSON object")
    if "params" in payload and not isinstance(payload["params"], dict):
        raise InvalidRequest("params must be a plain object")
    if payload and "params" not in payload:
        raise InvalidRequest(_unwrapped_hint(payload))
    if len(payload) > 1:  # as the API document says: a body holds "params" and nothing else
        others = ", ".join(f'"{name}"' for name in _plain([k for k in payload if k != "params"]))
        raise InvalidRequest(f'The body holds "params" only: remove {others or "the rest"}')
    return payload.get("params")


def _unwrapped_hint(payload: dict[str, Any]) -> str:
    """Parameters sent at the top level: say where they go."""
    shown = ", ".join(f'"{name}": ...' for name in _plain(list(payload))) or "..."
    return f'Parameters go under "params": send {{"params": {{{shown}}}}}, not {{{shown}}}'


def _plain(keys: list[str]) -> list[str]:
    """A few of a client's member names, and only plain ones, to repeat in a message."""
    return [k for k in keys if k.isidentifier() and len(k) <= 64][:3]
