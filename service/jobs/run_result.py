"""A run's top-level `result`, added to the run's JSON as Databricks sent it, bytes untouched.

Clients read `result` (`SUCCESS`, `FAILED`, `CANCELED`, `TIMEDOUT`, ..., null while running)
rather than dig in `state.result_state`. The member goes last, after every byte Databricks sent:
nothing is re-encoded, and should Databricks ever send a `result` of its own, JSON parsers keep
the last member of a name, which is ours.
"""

from __future__ import annotations

import msgspec

from service.upstream.wire import Run

_encoder = msgspec.json.Encoder()
_run_decoder = msgspec.json.Decoder(Run)


def with_result(raw: msgspec.Raw) -> msgspec.Raw:
    """The run object `raw` with `"result": ...` appended; `raw` must hold a run object."""
    result = _run_decoder.decode(raw).result
    # A run object has members (run_id and job_id are required), so a comma always goes first.
    head = bytes(raw).rstrip()[:-1].rstrip()
    return msgspec.Raw(head + b',"result":' + _encoder.encode(result) + b"}")
