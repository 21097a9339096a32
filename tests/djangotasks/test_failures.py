"""Failures as Django reports them: FAILED, one TaskError per failed attempt, and our
retries, dead-letter queue, time limits and cancel underneath."""

import pytest
from django.tasks import TaskResultStatus

from taskqueue import services
from taskqueue.audit import Actor
from taskqueue.errors import TaskTimeout
from taskqueue.inspect import get_task
from tests.support.results import finished
from tests.support.waits import wait_for
from tests.support.workers import run_burst
from tests.taskapp import django_tasks as dj

FAILED, READY = TaskResultStatus.FAILED, TaskResultStatus.READY
SUCCESSFUL = TaskResultStatus.SUCCESSFUL
ops = Actor("tests", "system")


def failed_once(declared, *args):
    result = declared.enqueue(*args)
    run_burst()
    result.refresh()
    assert result.status == FAILED and result.is_finished
    assert result.attempts == 1 and len(result.errors) == 1
    assert result.enqueued_at <= result.started_at <= result.finished_at
    with pytest.raises(ValueError, match="Task failed"):
        _ = result.return_value
    return result


@pytest.mark.parametrize("declared", [dj.fails, dj.afails], ids=["sync", "async"])
def test_an_exception_fails_the_task_with_its_class_and_traceback(declared):
    error = failed_once(declared, "bad input").errors[0]
    assert error.exception_class is ValueError
    assert error.exception_class_path == "builtins.ValueError"
    assert error.traceback.endswith("ValueError: bad input\n")


def test_system_exit_fails_the_task_and_the_worker_lives_on():
    error = failed_once(dj.exits).errors[0]
    assert error.exception_class is SystemExit
    assert error.traceback.endswith("SystemExit: 3\n")
    assert failed_once(dj.fails, "after").errors[0].exception_class is ValueError


def test_an_exception_whose_args_do_not_serialise_is_recorded():
    error = failed_once(dj.raises_opaque).errors[0]
    assert error.exception_class is ValueError
    assert "ValueError: (<Opaque>, {1, 2})" in error.traceback


@pytest.mark.parametrize("declared", [dj.returns_object, dj.returns_nan], ids=["object", "nan"])
def test_a_return_value_json_cannot_carry_fails_the_task_without_a_retry(declared):
    result = failed_once(declared)  # one attempt
    assert get_task(result.id).max_retries == 3
    assert issubclass(result.errors[0].exception_class, TypeError)
    assert "is not JSON" in result.errors[0].traceback


def test_a_failed_attempt_is_retried_and_both_attempts_are_reported(background_worker):
    result = dj.fails_once.enqueue()
    background_worker()
    finished(result)
    assert (result.status, result.return_value, result.attempts) == (SUCCESSFUL, 2, 2)
    assert [e.exception_class for e in result.errors] == [ConnectionError]
    assert result.started_at < result.last_attempted_at <= result.finished_at
    assert len(result.worker_ids) == 2


@pytest.mark.django_db  # operator actions are audited
def test_retries_used_up_end_in_the_dead_letter_queue_and_a_retry_starts_again(
    background_worker,
):
    result = dj.always_fails.enqueue()
    background_worker()
    finished(result)
    assert result.status == FAILED and result.attempts == 3
    assert [e.exception_class for e in result.errors] == [KeyError] * 3
    assert get_task(result.id).status == "dead"
    services.retry(ops, result.id)
    result.refresh()
    assert not result.is_finished and result.finished_at is None  # READY, or RUNNING already
    finished(result)
    assert result.status == FAILED and len(result.errors) == 6 and result.attempts == 6


def test_an_exception_excluded_from_retries_fails_at_once():
    result = dj.not_retried.enqueue()
    run_burst()
    result.refresh()
    assert (result.status, result.attempts) == (FAILED, 1)
    assert result.errors[0].exception_class is KeyError


def test_a_task_past_its_timeout_fails_with_task_timeout():
    result = dj.too_slow.enqueue()
    run_burst()
    result.refresh()
    assert result.status == FAILED and result.errors[0].exception_class is TaskTimeout
    assert get_task(result.id).timeout == 0.2


@pytest.mark.django_db
def test_a_cancelled_waiting_task_is_failed_without_errors():
    result = dj.add.enqueue(1, 2)
    assert services.cancel(ops, result.id) == "cancelled"
    result.refresh()
    assert (result.status, result.errors, result.attempts) == (FAILED, [], 0)
    assert result.finished_at is not None


@pytest.mark.django_db
def test_a_cancelled_running_task_stops_and_is_failed(
    settings, tq_settings, background_worker, evidence, signals
):
    settings.TASKQUEUE = {**tq_settings, "LEASE_SECONDS": 0.6}  # a cancel rides the heartbeat
    result = dj.waits_for_cancel.enqueue("c")
    background_worker()
    wait_for(lambda: "start:c" in evidence(), message="the task to start")
    assert services.cancel(ops, result.id) == "requested"
    finished(result)
    assert (result.status, result.attempts, result.errors) == (FAILED, 1, [])
    assert get_task(result.id).status == "cancelled"
    assert [(name, s["status"]) for name, _, s in signals[1:]] == [
        ("started", TaskResultStatus.RUNNING),
        ("finished", FAILED),
    ]
