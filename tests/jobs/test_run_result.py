"""A run's top-level `result`: its outcome added to the run's JSON, Databricks' bytes untouched."""

from __future__ import annotations

import json

import msgspec
import pytest

from service.jobs.run_result import with_result
from tests.factories import make_run


@pytest.mark.parametrize(
    ("state", "result", "expected"),
    [
        ("PENDING", None, None),
        ("RUNNING", None, None),
        ("TERMINATING", None, None),
        ("TERMINATED", "SUCCESS", "SUCCESS"),
        ("TERMINATED", "FAILED", "FAILED"),
        ("TERMINATED", "CANCELED", "CANCELED"),
        ("TERMINATED", "TIMEDOUT", "TIMEDOUT"),
        ("SKIPPED", "MAXIMUM_CONCURRENT_RUNS_REACHED", "MAXIMUM_CONCURRENT_RUNS_REACHED"),
        # Ended with no result_state (a notebook not found): it must not read as still running.
        ("INTERNAL_ERROR", None, "INTERNAL_ERROR"),
        ("SKIPPED", None, "SKIPPED"),
    ],
)
def test_result_is_the_result_state_and_null_only_while_running(state, result, expected):
    run = make_run(state=state, result=result)
    listed = json.loads(bytes(with_result(msgspec.Raw(json.dumps(run).encode()))))
    assert listed == {**run, "result": expected}


def test_databricks_bytes_are_kept_as_sent_and_result_goes_last():
    sent = b'{\n  "run_id": 1,\n  "job_id": 2,\n  "state": {"life_cycle_state": "RUNNING"}\n}\n'
    assert bytes(with_result(msgspec.Raw(sent))) == sent.rstrip()[:-1].rstrip() + (
        b',"result":null}'
    )


def test_a_result_member_databricks_might_add_is_overridden_by_ours():
    sent = json.dumps({**make_run(state="TERMINATED", result="FAILED"), "result": "other"})
    assert json.loads(bytes(with_result(msgspec.Raw(sent.encode()))))["result"] == "FAILED"
