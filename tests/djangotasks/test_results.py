"""TaskResult through the backend: enqueue, run by a real worker, refresh, get_result,
from this process and another, sync and async APIs."""

import asyncio
import signal

import pytest
from django.tasks import TaskResultStatus, default_task_backend, task_backends
from django.tasks.exceptions import TaskResultDoesNotExist, TaskResultMismatch

from taskqueue.backends import RedisTaskBackend
from taskqueue.inspect import get_task
from tests.support.results import finished
from tests.support.waits import wait_for
from tests.support.workers import run_burst
from tests.taskapp import django_tasks as dj
from tests.taskapp.tasks import echo

READY, SUCCESSFUL = TaskResultStatus.READY, TaskResultStatus.SUCCESSFUL


def test_the_default_backend_is_ours_and_supports_the_whole_contract():
    backend = task_backends["default"]
    assert isinstance(backend, RedisTaskBackend)
    assert backend.supports_defer and backend.supports_async_task
    assert backend.supports_get_result and backend.supports_priority


def test_enqueue_stores_the_task_and_returns_a_ready_result():
    result = dj.add.enqueue(2, b=3)
    assert (result.status, result.args, result.kwargs) == (READY, [2], {"b": 3})
    assert result.task == dj.add and result.backend == "default"
    assert result.enqueued_at is not None and result.started_at is None
    assert (result.worker_ids, result.errors, result.attempts) == ([], [], 0)
    record = get_task(result.id)
    assert (record.name, record.status, record.queue) == (dj.add.module_path, "pending", "default")
    with pytest.raises(ValueError, match="not finished yet"):
        _ = result.return_value


def test_get_result_right_after_enqueue_equals_the_result():
    result = dj.add.enqueue(1, 1)
    assert dj.add.get_result(result.id) == result


@pytest.mark.parametrize("declared", [dj.add, dj.aadd], ids=["sync", "async"])
def test_a_worker_runs_the_task_and_refresh_sees_the_outcome(declared):
    result = declared.enqueue(20, 22)
    worker = run_burst()
    result.refresh()
    assert (result.status, result.return_value, result.is_finished) == (SUCCESSFUL, 42, True)
    assert result.enqueued_at <= result.started_at <= result.finished_at
    assert result.last_attempted_at == result.started_at
    assert result.worker_ids == [worker.id] and result.attempts == 1 and result.errors == []


def test_return_values_are_json_normalised():
    result = dj.normalised.enqueue()
    run_burst()
    result.refresh()
    assert result.return_value == [1, "bytes", {"nested": [2, 3]}]


def test_the_async_api_enqueues_reads_and_refreshes():
    async def enqueue_and_read():
        result = await dj.aadd.aenqueue(1, 2)
        assert await dj.aadd.aget_result(result.id) == result
        return result

    result = asyncio.run(enqueue_and_read())
    run_burst()
    asyncio.run(result.arefresh())
    assert (result.status, result.return_value) == (SUCCESSFUL, 3)


def test_a_worker_process_runs_it_and_this_process_reads_the_result(spawn_worker):
    result = dj.about_me.enqueue("elsewhere")
    worker = spawn_worker("--burst")
    assert worker.wait(timeout=60) == 0
    result.refresh()
    seen = result.return_value
    assert result.status == SUCCESSFUL and seen["id"] == result.id
    assert seen["worker_ids"] == result.worker_ids and len(result.worker_ids) == 1
    assert (seen["attempt"], seen["status"], seen["tag"]) == (1, "RUNNING", "elsewhere")


@pytest.mark.parametrize("result_id", ["no-such-id", "", "x" * 65, "a\x00b", 123, None])
def test_an_unknown_or_malformed_id_has_no_result(result_id):
    with pytest.raises(TaskResultDoesNotExist):
        dj.add.get_result(result_id)
    with pytest.raises(TaskResultDoesNotExist):
        default_task_backend.get_result(result_id)
    with pytest.raises(TaskResultDoesNotExist):
        asyncio.run(dj.add.aget_result(result_id))


def test_a_result_of_another_django_task_is_a_mismatch():
    result = dj.aadd.enqueue(1, 2)
    with pytest.raises(TaskResultMismatch, match="aadd"):
        dj.add.get_result(result.id)
    with pytest.raises(TaskResultMismatch):
        asyncio.run(dj.add.aget_result(result.id))


def test_a_native_task_is_readable_through_the_backend_but_a_mismatch_for_a_django_task():
    handle = echo.using(priority=10).enqueue("hi")
    seen = default_task_backend.get_result(handle.id)
    assert (seen.status, seen.args, seen.task.func) == (READY, ["hi"], echo.func)
    assert seen.task.priority == 100
    with pytest.raises(TaskResultMismatch):
        dj.add.get_result(handle.id)


def test_a_task_whose_worker_is_killed_runs_again_elsewhere(spawn_worker, evidence):
    result = dj.slow_mark.enqueue(0.5, "k")
    first = spawn_worker(lease=1.5)
    wait_for(lambda: "start:k" in evidence(), timeout=30, message="the task to start")
    first.send_signal(signal.SIGKILL)
    first.wait(5)
    assert dj.slow_mark.get_result(result.id).status == TaskResultStatus.RUNNING  # still leased
    spawn_worker(lease=1.5)
    finished(result, timeout=30)
    assert (result.status, result.return_value, result.errors) == (SUCCESSFUL, "k", [])
    assert result.attempts == 2 and len(set(result.worker_ids)) == 2
