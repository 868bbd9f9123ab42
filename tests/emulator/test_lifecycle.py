"""The run timeline as a pure function: task order, failures, cancellation."""

from __future__ import annotations

from service.emulator.lifecycle import TaskPlan, timeline


def plan(key: str, *deps: str, outcome: str = "SUCCESS", run_id: int = 1) -> TaskPlan:
    return TaskPlan(
        key=key,
        run_id=run_id,
        depends_on=deps,
        outcome=outcome,  # type: ignore[arg-type]
        setup_ms=10,
        exec_ms=100,
        cleanup_ms=5,
    )


CHAIN = (plan("a"), plan("b", "a"), plan("c", "b"))


def test_each_task_starts_when_its_dependency_ends() -> None:
    tasks = timeline(CHAIN, start=0).tasks
    assert [(t.start, t.exec_start, t.exec_end, t.end) for t in tasks] == [
        (0, 10, 110, 115),
        (115, 125, 225, 230),
        (230, 240, 340, 345),
    ]


def test_a_run_ends_with_its_last_task() -> None:
    done = timeline(CHAIN, start=0)
    assert (done.end, done.result, done.failed_task) == (345, "SUCCESS", None)


def test_the_run_is_pending_until_a_task_executes_and_terminating_while_the_last_cleans_up() -> (
    None
):
    run = timeline(CHAIN, start=0)
    assert [run.phase(t) for t in (0, 9, 10, 339, 340, 344, 345)] == [
        "PENDING",
        "PENDING",
        "RUNNING",
        "RUNNING",
        "TERMINATING",
        "TERMINATING",
        "DONE",
    ]


def test_a_failed_task_fails_the_run_and_skips_its_dependants_when_it_ends() -> None:
    run = timeline((plan("a"), plan("b", "a", outcome="FAILED"), plan("c", "b")), start=0)
    assert [t.result for t in run.tasks] == ["SUCCESS", "FAILED", "UPSTREAM_FAILED"]
    assert run.tasks[2].end == run.tasks[1].end == 230
    assert (run.result, run.failed_task, run.end) == ("FAILED", "b", 230)


def test_an_independent_branch_keeps_running_after_a_failure() -> None:
    run = timeline((plan("a", outcome="FAILED"), plan("b"), plan("c", "a")), start=0)
    assert [t.result for t in run.tasks] == ["FAILED", "SUCCESS", "UPSTREAM_FAILED"]
    assert run.end == 115


def test_an_internal_error_makes_the_run_internal_error() -> None:
    run = timeline((plan("a", outcome="INTERNAL_ERROR"), plan("b", "a")), start=0)
    assert (run.result, run.failed_task) == ("INTERNAL_ERROR", "a")


def test_cancel_while_running_cleans_up_then_ends_cancelled() -> None:
    run = timeline(CHAIN, start=0, cancel=50)
    assert [(t.result, t.end) for t in run.tasks] == [
        ("CANCELED", 55),
        ("UPSTREAM_CANCELED", 50),
        ("UPSTREAM_CANCELED", 50),
    ]
    assert (run.result, run.end, run.phase(50), run.phase(55)) == (
        "CANCELED",
        55,
        "TERMINATING",
        "DONE",
    )


def test_cancel_while_pending_ends_at_once() -> None:
    run = timeline(CHAIN, start=0, cancel=5)
    assert (run.result, run.end, run.phase(4), run.phase(5)) == ("CANCELED", 5, "PENDING", "DONE")


def test_cancel_while_the_last_task_cleans_up_keeps_the_outcome() -> None:
    run = timeline(CHAIN, start=0, cancel=342)
    assert (run.result, run.end) == ("SUCCESS", 345)


def test_excluded_tasks_count_as_done_for_their_dependants() -> None:
    excluded = TaskPlan(
        key="a",
        run_id=1,
        depends_on=(),
        outcome="SUCCESS",
        setup_ms=10,
        exec_ms=100,
        cleanup_ms=5,
        excluded=True,
    )
    run = timeline((excluded, plan("b", "a")), start=0)
    assert [t.result for t in run.tasks] == ["EXCLUDED", "SUCCESS"]
    assert run.tasks[1].start == 0
