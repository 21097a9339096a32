"""Fixtures of the django.tasks conformance tests: the worker fixtures (in-process and
subprocess workers on the session's redis-server) and signal recording. `finished()`,
which waits for a result, is in tests/support/results.py."""

import threading

import pytest
from django.tasks.signals import task_enqueued, task_finished, task_started

from tests.support.workers import (  # noqa: F401 - fixtures
    background_worker,
    evidence,
    spawn_worker,
    task_env,
)


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
