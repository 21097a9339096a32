"""Which queues a worker serves when `runworker` is given no --queues (issue 14): the
configured ones in order, then every other queue a registered task or a periodic
schedule sends tasks to; --queues still says exactly which."""

from types import SimpleNamespace

import pytest
from django.core.management import CommandError, call_command

from taskqueue import inspect
from taskqueue.building import TaskOptions
from taskqueue.worker.options import declared_queue, default_queues
from tests.support.waits import wait_for
from tests.taskapp import queue_tasks

pytestmark = pytest.mark.django_db


def config(queues=("high", "default", "low"), default="default", periodic=None, shards=None):
    return SimpleNamespace(
        QUEUES=queues, DEFAULT_QUEUE=default, PERIODIC=periodic or {}, SHARDS=shards or {}
    )


def native(queue=None):
    return SimpleNamespace(options=TaskOptions(queue=queue))


def django_task(queue_name):
    return SimpleNamespace(django_task=SimpleNamespace(queue_name=queue_name))


def test_configured_queues_come_first_in_order_then_declared_ones_sorted():
    tasks = [native("reports"), native("emails"), native("default"), native(None)]
    assert default_queues(config(), tasks) == ("high", "default", "low", "emails", "reports")


def test_a_task_declaring_no_queue_adds_the_default_queue_when_not_configured():
    assert default_queues(config(queues=("high",)), [native(None)]) == ("high", "default")


def test_a_django_task_adds_its_queue_name():
    assert declared_queue(django_task("imports")) == "imports"
    assert default_queues(config(), [django_task("imports")])[-1] == "imports"


def test_a_periodic_schedules_queue_is_served_and_a_bad_one_ignored():
    periodic = {"a": {"task": "x", "cron": "* * * * *", "queue": "cron"}, "b": {"queue": 7}}
    assert default_queues(config(periodic=periodic), []) == ("high", "default", "low", "cron")


def test_a_sharded_queue_keeps_its_logical_name():
    sharded = config(shards={"emails": 4})  # the broker expands it into its sub-queues
    assert default_queues(sharded, [native("emails")]) == ("high", "default", "low", "emails")


def worker_serving(queue: str):
    live = [w for w in inspect.workers() if not w.lost and queue in w.queues]
    return live[0] if live else None


def test_a_worker_without_queues_serves_a_queue_only_a_registered_task_declares(
    spawn_worker, evidence
):
    handle = queue_tasks.newsletter.enqueue("sent")
    assert handle.queue == queue_tasks.NEWSLETTERS
    spawn_worker()
    info = wait_for(lambda: worker_serving(queue_tasks.NEWSLETTERS), 20, "the worker to start")
    assert info.queues[0] == "default"  # TASKQUEUE['QUEUES'] first
    wait_for(lambda: "sent" in evidence(), 20, "the newsletter task to run")
    assert handle.result(timeout=10) == "sent"


def test_queues_given_on_the_command_line_override_the_default_exactly(spawn_worker):
    spawn_worker("--queues", "default")
    info = wait_for(lambda: worker_serving("default"), 20, "the worker to start")
    assert info.queues == ["default"]


def test_a_bad_queue_on_the_command_line_is_refused():
    with pytest.raises(CommandError, match="queue name"):
        call_command("runworker", "--queues", "Not A Queue", "--burst")
