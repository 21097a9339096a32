"""The Python API: @task, enqueue, using(), prepare() + enqueue_many, handles, bad input."""

import json
import math
import threading
from datetime import UTC, datetime, timedelta

import pytest

import taskqueue
from taskqueue import task
from taskqueue.errors import (
    DuplicateTaskName,
    InvalidPriority,
    InvalidQueueName,
    PayloadTooLarge,
    ResultTimeout,
    SerializationError,
    TaskCancelled,
    TaskDoesNotExist,
    TaskFailed,
    TaskNotFound,
    ValidationError,
)
from taskqueue.records import TaskError
from taskqueue.registry import registry
from taskqueue.status import Status
from tests.support.tasks import add, send

from .topologies import command_calls


@task
async def fetch(url):
    return url


def keys_under_prefix(redis_client, prefix):
    return list(redis_client.scan_iter(match=f"{prefix}:*"))


def test_a_task_is_registered_under_module_and_function_name():
    assert registry.get("tests.support.tasks.add") is add
    assert registry.get("custom.send") is send
    assert add(2, 3) == 5  # calling runs it here
    assert fetch.is_async and not add.is_async


def test_tasks_in_installed_apps_are_discovered_at_startup():
    assert "demo.tasks.fast" in registry


def test_a_second_function_under_a_taken_name_is_refused():
    def other():
        pass

    with pytest.raises(DuplicateTaskName, match=r"custom\.send"):
        task(name="custom.send")(other)


def test_an_unknown_task_name_raises_task_not_found_naming_it():
    with pytest.raises(TaskNotFound, match=r"'nope\.task'"):
        taskqueue.enqueue("nope.task")


def test_a_dangerous_name_is_only_looked_up_never_imported(monkeypatch):
    import importlib

    monkeypatch.setattr(importlib, "import_module", lambda *a: pytest.fail("imported"))
    with pytest.raises(TaskNotFound):
        taskqueue.enqueue("os.system", args=["true"])


def test_enqueue_stores_the_call_with_the_declared_options():
    handle = send.enqueue("a@example.com", subject="Hi")
    record = taskqueue.get_task(handle.id)
    assert (record.name, record.queue, record.priority, record.max_retries, record.timeout) == (
        "custom.send",
        "emails",
        8,
        1,
        30.0,
    )
    assert (record.args, record.kwargs, record.status) == (
        ["a@example.com"],
        {"subject": "Hi"},
        Status.PENDING,
    )


def test_defaults_come_from_the_taskqueue_setting(tq_settings, settings):
    settings.TASKQUEUE = {
        **tq_settings,
        "DEFAULT_QUEUE": "misc",
        "DEFAULT_PRIORITY": 3,
        "MAX_RETRIES": 9,
        "TIMEOUT": None,
    }
    record = taskqueue.get_task(add.enqueue(1, 2).id)
    assert (record.queue, record.priority, record.max_retries, record.timeout) == (
        "misc",
        3,
        9,
        None,
    )


def test_using_overrides_queue_priority_and_delay():
    handle = add.using(queue="other", priority=10, delay=30).enqueue(1, 2)
    record = taskqueue.get_task(handle.id)
    assert (record.queue, record.priority, record.status) == ("other", 10, Status.SCHEDULED)
    assert (record.run_at - record.created_at).total_seconds() == pytest.approx(30, abs=0.01)


def test_using_an_eta_schedules_for_that_time():
    eta = datetime.now(UTC) + timedelta(hours=1)
    record = taskqueue.get_task(add.using(eta=eta).enqueue(1, 2).id)
    assert abs(record.run_at - eta) < timedelta(milliseconds=2)


def test_an_idempotency_key_makes_one_task():
    first = add.using(idempotency_key="invoice-7").enqueue(1, 2)
    second = add.using(idempotency_key="invoice-7").enqueue(1, 2)
    assert first == second and first.created and not second.created


def test_enqueue_many_sends_many_calls_in_one_round_trip(broker, redis_client):
    before = _evalsha_calls(redis_client)
    handles = taskqueue.enqueue_many([add.prepare(i, i) for i in range(100)])
    assert _evalsha_calls(redis_client) - before == 1
    assert len({h.id for h in handles}) == 100
    assert broker.counts("default").pending == 100


def _evalsha_calls(redis_client) -> int:
    return command_calls(redis_client, "evalsha")


def test_enqueue_by_name_takes_args_kwargs_and_options():
    handle = taskqueue.enqueue("tests.support.tasks.add", args=[1], kwargs={"b": 2}, priority=9)
    record = taskqueue.get_task(handle.id)
    assert (record.args, record.kwargs, record.priority) == ([1], {"b": 2}, 9)


@pytest.mark.parametrize("bad", [True, False, 1.5, "5", 0, 11, -1, "high"])
def test_a_priority_outside_1_to_10_is_refused_and_nothing_is_written(bad, redis_client, tq_prefix):
    with pytest.raises(InvalidPriority, match="1 to 10"):
        add.using(priority=bad).enqueue(1, 2)
    assert keys_under_prefix(redis_client, tq_prefix) == []


@pytest.mark.parametrize("bad", ["../x", "a:b", "{t}", "x" * 300, "", "Emails", "default\n"])
def test_a_bad_queue_name_is_refused_and_nothing_is_written(bad, redis_client, tq_prefix):
    with pytest.raises(InvalidQueueName, match="not allowed"):
        add.using(queue=bad).enqueue(1, 2)
    assert keys_under_prefix(redis_client, tq_prefix) == []


@pytest.mark.parametrize("bad", [object(), {1, 2}, math.nan, math.inf, b"bytes", datetime.now()])
def test_an_argument_json_cannot_carry_is_refused_never_pickled(bad, redis_client, tq_prefix):
    with pytest.raises(SerializationError, match="not JSON-serialisable"):
        add.enqueue(bad, 1)
    assert keys_under_prefix(redis_client, tq_prefix) == []


def test_deeply_nested_arguments_are_refused_with_a_clear_error():
    nested = []
    for _ in range(100_000):
        nested = [nested]
    with pytest.raises(SerializationError, match="nested too deeply"):
        add.enqueue(nested, 1)


def test_an_oversize_payload_is_refused(tq_settings, settings):
    settings.TASKQUEUE = {**tq_settings, "MAX_PAYLOAD_BYTES": 100}
    with pytest.raises(PayloadTooLarge, match="limit is 100"):
        add.enqueue("x" * 101, 1)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"delay": -1}, "delay must be between"),
        ({"delay": math.nan}, "finite number"),
        ({"delay": 10**309}, "finite number, not 1000000000"),
        ({"delay": 10**5000}, "finite number, not an integer of about 5000 digits"),
        ({"timeout": 10**309}, "finite number"),
        ({"max_retries": 10**5000}, "integer from 0 to 1000, not an integer of about"),
        ({"eta": datetime(2030, 1, 1)}, "timezone-aware"),
        ({"eta": datetime(9999, 1, 1, tzinfo=UTC)}, "days ahead"),
        ({"max_retries": -1}, "max_retries"),
        ({"idempotency_key": ""}, "idempotency_key"),
        ({"timeout": 0}, "timeout"),
    ],
)
def test_bad_enqueue_options_are_refused_with_a_message(options, message, redis_client, tq_prefix):
    with pytest.raises(ValidationError, match=message):
        add.using(**options).enqueue(1, 2)
    assert keys_under_prefix(redis_client, tq_prefix) == []


def test_bad_task_options_are_refused_at_declaration():
    with pytest.raises(ValidationError, match="unknown @task option"):
        task(retries=3)(lambda: None)
    with pytest.raises(InvalidPriority):
        task(priority=0, name="bad.priority")(lambda: None)
    with pytest.raises(ValidationError, match="not a valid cron expression") as refused:
        task(cron="61 * * * *", name="bad.cron")(lambda: None)
    assert refused.value.field == "cron"
    assert "bad.cron" not in registry


def test_by_name_args_must_be_a_list_and_kwargs_identifiers():
    with pytest.raises(ValidationError, match="args must be a list"):
        taskqueue.enqueue("tests.support.tasks.add", args="abc")
    with pytest.raises(SerializationError, match="identifiers"):
        taskqueue.enqueue("tests.support.tasks.add", kwargs={"not-an-id": 1})


def test_get_task_of_an_unknown_id_raises_task_does_not_exist():
    with pytest.raises(TaskDoesNotExist):
        taskqueue.get_task("00000000-0000-0000-0000-000000000000")


def _finish_in_thread(broker, queue, outcome):
    def work():
        (c,) = broker.claim(queue, "w", 1)
        if outcome == "ok":
            broker.complete(queue, [(c.id, c.attempt, json.dumps({"sum": 3}))])
        else:
            broker.fail(
                queue,
                c.id,
                c.attempt,
                retry_delay_ms=None,
                error=TaskError("ValueError", "bad", "tb"),
            )

    thread = threading.Thread(target=work)
    thread.start()
    return thread


def test_result_waits_for_the_task_to_complete(broker):
    handle = add.enqueue(1, 2)
    thread = _finish_in_thread(broker, "default", "ok")
    assert handle.result(timeout=5) == {"sum": 3}
    thread.join()


def test_result_of_a_dead_task_raises_task_failed(broker):
    handle = add.enqueue(1, 2)
    thread = _finish_in_thread(broker, "default", "fail")
    with pytest.raises(TaskFailed, match="ValueError: bad"):
        handle.result(timeout=5)
    thread.join()


def test_result_of_a_cancelled_task_raises_task_cancelled(broker):
    handle = add.enqueue(1, 2)
    broker.cancel(handle.queue, handle.id)
    with pytest.raises(TaskCancelled):
        handle.result(timeout=5)


def test_wait_gives_up_after_the_timeout():
    handle = add.enqueue(1, 2)
    with pytest.raises(ResultTimeout):
        handle.wait(timeout=0.2)
