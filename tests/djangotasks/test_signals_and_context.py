"""Django's signals at the right moments - task_enqueued where the task is enqueued,
task_started and task_finished in the worker (here an in-process one) - and the
TaskContext a takes_context=True task receives."""

import pytest
from django.tasks import TaskResultStatus

from taskqueue.backends import RedisTaskBackend
from tests.support.results import finished
from tests.support.workers import run_burst
from tests.taskapp import django_tasks as dj

READY, RUNNING = TaskResultStatus.READY, TaskResultStatus.RUNNING
SUCCESSFUL, FAILED = TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED


def seen(signals) -> list[tuple[str, str]]:
    return [(name, snapshot["status"]) for name, _, snapshot in signals]


def test_task_enqueued_is_sent_by_the_enqueuing_process(signals):
    result = dj.add.enqueue(1, 2)
    ((name, sender, snapshot),) = signals
    assert (name, sender, snapshot["id"], snapshot["status"]) == (
        "enqueued",
        RedisTaskBackend,
        result.id,
        READY,
    )


@pytest.mark.parametrize("declared", [dj.add, dj.aadd], ids=["sync", "async"])
def test_started_and_finished_are_sent_around_the_run(declared, signals):
    result = declared.enqueue(1, 2)
    run_burst()
    assert seen(signals) == [("enqueued", READY), ("started", RUNNING), ("finished", SUCCESSFUL)]
    started, ended = signals[1][2], signals[2][2]
    assert {s["id"] for _, _, s in signals} == {result.id}
    assert (started["attempts"], ended["return_value"]) == (1, 3)
    assert ended["finished_at"] is not None
    assert all(sender is RedisTaskBackend for _, sender, _ in signals)


@pytest.mark.parametrize("declared", [dj.fails, dj.afails], ids=["sync", "async"])
def test_finished_reports_a_failure_with_its_error(declared, signals):
    declared.enqueue()
    run_burst()
    assert seen(signals)[1:] == [("started", RUNNING), ("finished", FAILED)]
    assert signals[2][2]["errors"] == ["builtins.ValueError"]


def test_an_attempt_followed_by_a_retry_finishes_ready(background_worker, signals):
    result = dj.fails_once.enqueue()
    background_worker()
    finished(result)
    assert seen(signals)[1:] == [
        ("started", RUNNING),
        ("finished", READY),  # a retry follows: the task is waiting for it
        ("started", RUNNING),
        ("finished", SUCCESSFUL),
    ]
    assert [s["attempts"] for _, _, s in signals[1:]] == [1, 1, 2, 2]
    assert signals[2][2]["finished_at"] is None


def test_a_timed_out_async_attempt_finishes_failed(signals):
    dj.too_slow.enqueue()
    run_burst()
    assert seen(signals)[1:] == [("started", RUNNING), ("finished", FAILED)]
    assert signals[2][2]["errors"] == ["taskqueue.errors.TaskTimeout"]


def test_a_task_taking_context_gets_its_running_result():
    result = dj.about_me.using(priority=-7).enqueue("ctx")
    worker = run_burst()
    result.refresh()
    assert result.return_value == {
        "id": result.id,
        "attempt": 1,
        "status": "RUNNING",
        "worker_ids": [worker.id],
        "priority": -7,
        "tag": "ctx",
    }


def test_an_async_task_taking_context_gets_it_too():
    result = dj.aabout_me.enqueue()
    run_burst()
    result.refresh()
    assert result.return_value == {"id": result.id, "attempt": 1}
