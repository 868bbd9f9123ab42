"""runs/get-output for a task run: the notebook result, logs or error its task type produces."""

from __future__ import annotations

from service.emulator.lifecycle import TaskPlan
from service.emulator.render import Workspace, render_task_run, task_spec
from service.emulator.runs import RunRecord
from service.emulator.states import INTERNAL_FAILURE
from service.emulator.wire import RunOutput

MAX_OUTPUT_BYTES = 5 * 1024 * 1024  # the API keeps the first 5 MB of a result, the last of logs
_LOGGING_TYPES = frozenset({"python_wheel", "python_script", "spark_jar"})


def render_output(record: RunRecord, plan: TaskPlan, now: int, ws: Workspace) -> RunOutput:
    """What get-output answers for one task run; still running: only `metadata`."""
    metadata = render_task_run(record, plan, now, ws)
    timeline = record.task_timeline(plan)
    if now < timeline.end:
        return RunOutput(metadata=metadata)
    spec = task_spec(record.job, plan.key)
    output = RunOutput(metadata=metadata)
    succeeded = timeline.result == "SUCCESS"
    if spec.type in _LOGGING_TYPES and timeline.start is not None:
        logs, cut = _tail(spec.output or "")
        output.logs, output.logs_truncated = logs, cut
    if succeeded and spec.type == "notebook":
        if spec.output is None:
            output.notebook_output = {}  # the notebook ended without dbutils.notebook.exit()
        else:
            result, cut = _head(spec.output)
            output.notebook_output = {"result": result, "truncated": cut}
    if succeeded and spec.type == "sql":
        output.sql_output = {
            "query_output": {
                "query_text": spec.output or "SELECT 1",
                "warehouse_id": "emulator-warehouse",
                "output_link": f"{ws.base_url}/sql/history?queryId={plan.run_id}",
            }
        }
    if succeeded and spec.type == "dbt":
        output.dbt_output = {
            "artifacts_link": f"{ws.base_url}/dbt-artifacts/{plan.run_id}.tar.gz",
            "artifacts_headers": {},
        }
    if timeline.result == "FAILED":
        error = spec.error or f"RuntimeError: task {plan.key} failed"
        output.error = error
        output.error_trace = (
            "Traceback (most recent call last):\n"
            f'  File "/Workspace/Jobs/{record.job.name}/{plan.key}", line 1, in <module>\n'
            f"{error}"
        )
    elif timeline.result == "INTERNAL_ERROR":
        output.error = INTERNAL_FAILURE
    return output


def _head(text: str) -> tuple[str, bool]:
    data = text.encode()
    if len(data) <= MAX_OUTPUT_BYTES:
        return text, False
    return data[:MAX_OUTPUT_BYTES].decode(errors="ignore"), True


def _tail(text: str) -> tuple[str, bool]:
    data = text.encode()
    if len(data) <= MAX_OUTPUT_BYTES:
        return text, False
    return data[-MAX_OUTPUT_BYTES:].decode(errors="ignore"), True
