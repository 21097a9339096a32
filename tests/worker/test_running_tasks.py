"""Running tasks: results, failures, retries, timeouts, priorities, sync and async."""

import contextlib
import gc
import itertools
import socket
import threading

import pytest
import redis.cluster
from django.db import OperationalError

import taskqueue
from taskqueue import services
from taskqueue.audit import Actor
from taskqueue.client import get_broker
from taskqueue.conf import get_config
from taskqueue.status import Status
from taskqueue.worker.worker import Worker
from tests.support.waits import wait_for
from tests.support.workers import options, run_burst
from tests.taskapp import tasks

pytestmark = pytest.mark.django_db


def status_of(handle):
    return taskqueue.get_task(handle.id).status


def test_a_burst_worker_runs_sync_and_async_tasks_and_exits(broker):
    sync = [tasks.echo.enqueue({"n": i}) for i in range(20)]
    async_ = [tasks.aecho.enqueue(i) for i in range(20)]
    run_burst()
    assert [h.record().result for h in sync] == [{"n": i} for i in range(20)]
    assert [h.record().result for h in async_] == list(range(20))
    counts = broker.counts("default")
    assert (counts.pending, counts.processing, counts.completed) == (0, 0, 40)


def test_a_burst_worker_on_an_empty_queue_exits_at_once():
    worker = run_burst()
    assert worker.processed == 0


def test_async_tasks_run_concurrently_on_the_loop_beside_sync_ones(evidence):
    handles = [tasks.asleep_for.enqueue(0.3, f"a{i}") for i in range(5)]
    handles += [tasks.sleep_for.enqueue(0.1, f"s{i}") for i in range(3)]
    run_burst(concurrency=8)
    assert all(h.record().status == Status.COMPLETED for h in handles)
    notes = [n.split(":") for n in evidence() if n.startswith(("start:a", "end:a"))]
    starts = [float(n[2]) for n in notes if n[0] == "start"]
    ends = [float(n[2]) for n in notes if n[0] == "end"]
    assert max(starts) < min(ends), "every async task started before the first one ended"


def test_priorities_are_honoured_end_to_end(evidence):
    expected = []
    for i, priority in enumerate([1, 5, 9, 5, 1, 9, 10, 3]):
        tasks.record.using(priority=priority).enqueue(f"{priority}-{i}")
        expected.append((-priority, i, f"{priority}-{i}"))
    run_burst(concurrency=1)
    assert evidence() == [tag for _, _, tag in sorted(expected)]


def test_a_failing_task_is_retried_with_backoff_then_dead_lettered(background_worker, evidence):
    handle = tasks.always_fails.enqueue("bad input")
    background_worker()
    record = wait_for(lambda: (r := handle.record()).status == Status.DEAD and r, timeout=15)
    assert (record.attempts, record.failures, record.error_type) == (4, 4, "ValueError")
    assert record.error_message == "bad input"
    assert "raise ValueError(message)" in record.traceback
    assert [a.outcome for a in record.history] == ["retry", "retry", "retry", "dead"]
    times = [float(n.split(":")[2]) for n in evidence() if n.startswith("attempt:")]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    caps = [min(0.4, 0.2 * 2**n) for n in range(3)]  # full jitter: uniform(0, cap)
    assert all(0 <= gap <= cap + 0.5 for gap, cap in zip(gaps, caps, strict=True)), gaps


def test_a_task_that_fails_once_completes_on_its_retry(background_worker):
    handle = tasks.fails_once.enqueue()
    background_worker()
    assert handle.result(timeout=10) == "second time lucky"
    assert [a.outcome for a in handle.record().history] == ["retry", "completed"]


@pytest.mark.parametrize(
    ("task", "error_type"),
    [
        (tasks.not_retried, "KeyError"),
        (tasks.returns_object, "taskqueue.errors.SerializationError"),
        (tasks.exits, "SystemExit"),
    ],
)
def test_failures_that_must_not_be_retried_go_straight_to_the_dead_letter_queue(task, error_type):
    handle = task.enqueue()
    run_burst()
    record = handle.record()
    assert (record.status, record.attempts, record.error_type) == (Status.DEAD, 1, error_type)


def test_a_task_can_ask_for_a_retry_after_a_countdown(background_worker):
    handle = tasks.asks_for_retry.enqueue()
    background_worker()
    assert handle.result(timeout=10) == "retried"


@pytest.mark.parametrize("task", [tasks.too_slow_async, tasks.too_slow_cooperative])
def test_a_task_past_its_time_limit_fails_with_task_timeout(task):
    handle = task.enqueue()
    run_burst()
    record = handle.record()
    assert (record.status, record.error_type) == (Status.DEAD, "taskqueue.errors.TaskTimeout")


def test_a_record_that_names_no_registered_task_is_dead_lettered_and_nothing_runs(broker):
    from tests.factories import make_task

    bad = make_task(name="builtins.eval", args=["__import__('os').system('touch /tmp/pwned')"])
    broker.enqueue([bad])
    good = tasks.echo.enqueue("still works")
    run_burst()
    record = broker.get("default", bad.id)
    assert (record.status, record.error_type) == (Status.DEAD, "InvalidTaskRecord")
    assert "builtins.eval" in record.error_message
    assert good.record().result == "still works"


@pytest.mark.parametrize(
    ("args", "kwargs"), [("not json", "{}"), ("{}", "{}"), ("[]", "[1]"), ("[]", '{"a-b": 1}')]
)
def test_malformed_arguments_in_redis_are_dead_lettered(broker, redis_client, args, kwargs):
    handle = tasks.echo.enqueue(1)
    redis_client.hset(
        broker.keys.queue("default").task(handle.id), mapping={"args": args, "kwargs": kwargs}
    )
    run_burst()
    assert (handle.record().status, handle.record().error_type) == (
        Status.DEAD,
        "InvalidTaskRecord",
    )


def test_cancel_stops_a_running_async_task(settings, tq_settings, background_worker, evidence):
    settings.TASKQUEUE = {**tq_settings, "LEASE_SECONDS": 1.5}
    handle = tasks.cancellable.enqueue("c")
    background_worker()
    wait_for(lambda: "start:c" in evidence(), message="the task to start")
    assert services.cancel(Actor.system(), handle.id) == "requested"
    record = wait_for(lambda: (r := handle.record()).status == Status.CANCELLED and r, timeout=5)
    assert record.history[0].outcome == "cancelled"


def test_cancel_reaches_a_cooperative_sync_task(settings, tq_settings, background_worker, evidence):
    settings.TASKQUEUE = {**tq_settings, "LEASE_SECONDS": 1.5}
    handle = tasks.cooperative.enqueue("s")
    background_worker()
    wait_for(lambda: "start:s" in evidence(), message="the task to start")
    services.cancel(Actor.system(), handle.id)
    wait_for(lambda: handle.record().status == Status.CANCELLED, timeout=5)


def test_progress_reaches_the_record_with_the_next_heartbeat(
    settings, tq_settings, background_worker, evidence
):
    settings.TASKQUEUE = {**tq_settings, "LEASE_SECONDS": 1.5}
    handle = tasks.reports_progress.enqueue(7)
    background_worker(grace=0)
    wait_for(lambda: handle.record().progress == {"done": 7, "total": 7}, timeout=5)


def test_the_worker_is_in_the_registry_while_it_runs(background_worker, broker):
    worker = background_worker(name="reg-test")
    (info,) = broker.workers()
    assert (info.id, info.queues, info.concurrency, info.lost) == (worker.id, ["default"], 4, False)
    worker.stop_from_thread()
    wait_for(lambda: broker.workers() == [], message="the worker to unregister")


def open_sockets() -> set[int]:
    """The ids of this process's connected sockets (gc sees every socket object)."""
    found = set()
    for obj in gc.get_objects():
        if isinstance(obj, socket.socket) and obj.fileno() != -1:
            with contextlib.suppress(OSError):
                obj.getpeername()
                found.add(id(obj))
    return found


def test_a_stopped_worker_leaves_no_connection_open(broker):
    """A worker run inside another program (as here) closes every connection it opened,
    its heartbeat thread's included, instead of leaving them to the garbage collector.
    The process-wide broker (client.get_broker(), which its archive loop uses) is the
    program's own and stays open: it has its connections (one per node on a cluster)
    before the count starts."""
    shared = get_broker().client
    if isinstance(shared, redis.cluster.RedisCluster):
        shared.ping(target_nodes=redis.cluster.RedisCluster.ALL_NODES)
    else:
        shared.ping()
    gc.collect()
    before = open_sockets()
    worker = Worker(options(name="closes-up"), get_config())
    thread = threading.Thread(target=worker.run, kwargs={"install_signals": False})
    thread.start()
    assert worker.ready.wait(10), "the worker did not start"
    assert open_sockets() - before, "no connection while it runs"
    worker.stop_from_thread()
    thread.join(timeout=15)
    assert not thread.is_alive(), "the worker did not stop"
    gc.collect()
    assert open_sockets() - before == set()


@pytest.mark.django_db(transaction=True)
def test_workers_archive_dead_tasks_to_the_database(settings, tq_settings, background_worker):
    from taskqueue.models import TaskArchive

    settings.TASKQUEUE = {**tq_settings, "ARCHIVE_INTERVAL": 0.2}
    handle = tasks.not_retried.enqueue()
    background_worker()

    def archived():
        try:
            return TaskArchive.objects.filter(task_id=handle.id).first()
        except OperationalError as exc:
            # SQLite's shared-cache in-memory test database refuses a reader while the
            # worker's archive thread writes ("table is locked"; no busy timeout): ask again
            if "locked" not in str(exc):
                raise
            return None

    row = wait_for(archived, timeout=10)
    assert (row.status, row.error_type) == ("dead", "KeyError")
