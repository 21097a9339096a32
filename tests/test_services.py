"""The service layer: the actions the API, console and CLI share."""

import pytest

import taskqueue
from taskqueue import services
from taskqueue.errors import InvalidQueueName, InvalidTransition, TaskDoesNotExist
from taskqueue.status import Status

from .test_task_api import add


def run_and_fail(broker, handle):
    (c,) = broker.claim(handle.queue, "w", 1)
    broker.fail(
        c.queue,
        c.id,
        c.attempt,
        retry_delay_ms=None,
        error_type="E",
        error_message="m",
        traceback="",
        error_json="{}",
    )


def test_cancel_of_a_pending_task_cancels_it():
    handle = add.enqueue(1, 2)
    assert services.cancel(handle.id) == "cancelled"
    assert taskqueue.get_task(handle.id).status == Status.CANCELLED


def test_cancel_twice_is_an_invalid_transition_naming_the_status():
    handle = add.enqueue(1, 2)
    services.cancel(handle.id)
    with pytest.raises(InvalidTransition, match="it is cancelled"):
        services.cancel(handle.id)


def test_retry_of_a_dead_task_makes_it_pending(broker):
    handle = add.enqueue(1, 2)
    run_and_fail(broker, handle)
    assert services.retry(handle.id).status == Status.PENDING


def test_retry_of_a_pending_task_is_an_invalid_transition():
    handle = add.enqueue(1, 2)
    with pytest.raises(InvalidTransition, match=r"Cannot retry .* it is pending"):
        services.retry(handle.id)


def test_delete_of_a_dead_task_removes_it(broker):
    handle = add.enqueue(1, 2)
    run_and_fail(broker, handle)
    services.delete(handle.id)
    with pytest.raises(TaskDoesNotExist):
        taskqueue.get_task(handle.id)


def test_delete_of_a_pending_task_is_refused():
    handle = add.enqueue(1, 2)
    with pytest.raises(InvalidTransition, match="Cannot delete"):
        services.delete(handle.id)


def test_pause_resume_and_purge_a_queue(broker):
    for i in range(3):
        add.enqueue(i, i)
    assert services.pause("default") is False
    assert broker.counts("default").paused
    assert services.resume("default") is True
    assert services.purge_queue("default") == 3
    assert broker.counts("default").pending == 0


def test_actions_on_a_bad_queue_name_are_refused():
    with pytest.raises(InvalidQueueName):
        services.pause("../etc")
