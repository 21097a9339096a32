"""Fixtures of the django.tasks conformance tests: the worker fixtures (in-process and
subprocess workers on the session's redis-server), signal recording, and `finished()`,
which waits for a result on the queue's event stream (no polling) and refreshes it."""

import threading

import pytest
from django.tasks import TaskResult
from django.tasks.signals import task_enqueued, task_finished, task_started

from taskqueue.handle import TaskHandle
from tests.worker.conftest import (  # noqa: F401 - fixtures
    background_worker,
    evidence,
    spawn_worker,
    task_env,
)


def finished(result: TaskResult, timeout: float = 10.0) -> TaskResult:
    """Wait until the task is completed, dead or cancelled, then refresh the result."""
    TaskHandle(result.id, result.task.queue_name).wait(timeout)
    result.refresh()
    return result


@pytest.fixture
def signals():
    """Every django.tasks signal sent in this process, as (name, sender, snapshot)."""
    sent, lock = [], threading.Lock()

    def receiver(name):
        def receive(sender, task_result, **kwargs):
            snapshot = {
                "id": task_result.id,
                "status": task_result.status,
                "attempts": task_result.attempts,
                "errors": [e.exception_class_path for e in task_result.errors],
                "finished_at": task_result.finished_at,
                "return_value": task_result._return_value,
            }
            with lock:
                sent.append((name, sender, snapshot))

        return receive

    receivers = {
        signal: receiver(name)
        for signal, name in (
            (task_enqueued, "enqueued"),
            (task_started, "started"),
            (task_finished, "finished"),
        )
    }
    for signal, receive in receivers.items():
        signal.connect(receive)
    yield sent
    for signal, receive in receivers.items():
        signal.disconnect(receive)
