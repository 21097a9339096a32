"""The worker checks a claimed task's arguments against its signature and type hints
again (issue 21): a record written by an older producer, or straight into Redis, that
does not fit is dead-lettered with the reason, and the task never runs."""

import json

import pytest

from taskqueue import payloads
from taskqueue.status import Status
from taskqueue.worker import runner
from tests.support.workers import run_burst
from tests.taskapp import tasks

pytestmark = pytest.mark.django_db


def overwrite(broker, redis_client, handle, **fields) -> None:
    redis_client.hset(broker.keys.queue("default").task(handle.id), mapping=fields)


def test_arguments_that_do_not_fit_are_dead_lettered_with_the_reason(
    broker, redis_client, task_env, evidence
):
    handle = tasks.record.enqueue("fine")  # record(tag: str)
    overwrite(broker, redis_client, handle, args="[5]")
    good = tasks.record.enqueue("still runs")
    run_burst()
    record = handle.record()
    assert (record.status, record.error_type) == (Status.DEAD, "InvalidTaskRecord")
    assert record.error_message == (
        "Invalid arguments for tests.taskapp.tasks.record: args[0] (tag) should be a valid "
        "string, not 5."
    )
    assert record.failures == 1  # no retry: it would fail the same way
    assert good.record().status == Status.COMPLETED
    assert evidence() == ["still runs"]


def test_an_unknown_keyword_written_into_redis_never_reaches_the_function(
    broker, redis_client, task_env, evidence
):
    handle = tasks.record.enqueue("x")
    overwrite(broker, redis_client, handle, args="[]", kwargs='{"tag": "x", "bogus": 1}')
    run_burst()
    record = handle.record()
    assert record.status == Status.DEAD
    assert "kwargs.bogus is not a parameter of tests.taskapp.tasks.record" in record.error_message
    assert evidence() == []


def test_with_validation_off_the_worker_runs_what_it_is_given(
    settings, tq_settings, broker, redis_client, task_env, evidence
):
    settings.TASKQUEUE = {**tq_settings, "VALIDATE_PAYLOADS": False}
    handle = tasks.record.enqueue("fine")
    overwrite(broker, redis_client, handle, args="[5]")
    run_burst()
    assert (handle.record().status, handle.record().result) == (Status.COMPLETED, 5)
    assert evidence() == ["5"]


# -- the producer's seal: a call checked at enqueue is not checked again ------------------


def test_a_sealed_record_is_not_checked_again(broker, task_env, evidence, monkeypatch):
    checks = []
    monkeypatch.setattr(runner, "check_call", lambda *a, **k: checks.append(a))
    handle = tasks.record.enqueue("sealed")
    assert "checked" in handle.record().meta
    run_burst()
    assert handle.record().status == Status.COMPLETED
    assert checks == []  # the worker trusted the seal


def test_a_forged_seal_is_checked_in_full(broker, redis_client, task_env, evidence, settings):
    handle = tasks.record.enqueue("x")
    kwargs = redis_client.hget(broker.keys.queue("default").task(handle.id), "kwargs")
    project_key = settings.SECRET_KEY
    settings.SECRET_KEY = "not the project's"
    payloads._seal_key.cache_clear()
    forged = payloads.seal(tasks.record, "[5]", kwargs)
    settings.SECRET_KEY = project_key
    payloads._seal_key.cache_clear()
    overwrite(broker, redis_client, handle, args="[5]", meta=json.dumps({"checked": forged}))
    run_burst()
    assert handle.record().status == Status.DEAD
    assert "args[0] (tag) should be a valid string" in handle.record().error_message
    assert evidence() == []


def test_a_worker_serving_sealed_records_never_loads_pydantic(broker, task_env, spawn_worker):
    handle = tasks.has_module.enqueue("pydantic")  # checked (and sealed) here
    worker = spawn_worker("--burst")
    assert worker.wait(60) == 0
    assert handle.record().result is False
