"""Workers on a sharded queue and on queues whose keys live on different cluster slots
(which they are, one slot per queue or sub-queue, on the TASKQUEUE_TEST_REDIS=cluster
run): every sub-queue is drained, and an idle worker blocks instead of polling."""

import time

import pytest

from tests.support.waits import wait_for
from tests.support.workers import run_burst
from tests.taskapp import tasks
from tests.topologies import command_calls

pytestmark = pytest.mark.django_db
SUBS = [f"emails#{n}" for n in range(4)]


@pytest.fixture
def sharded(settings, tq_settings):
    settings.TASKQUEUE = tq_settings | {"QUEUES": ["emails"], "SHARDS": {"emails": 4}}


def completed_per_sub(broker) -> list[int]:
    return [broker.client.zcard(broker.keys.queue(name).completed) for name in SUBS]


def test_a_worker_drains_every_sub_queue_of_a_sharded_queue(sharded, broker):
    handles = [tasks.echo.using(queue="emails").enqueue(i) for i in range(40)]
    run_burst(queues=("emails",), concurrency=4)
    assert [h.record().result for h in handles] == list(range(40))
    assert completed_per_sub(broker) == [10, 10, 10, 10]
    assert broker.counts("emails").completed == 40


def test_a_task_of_a_sharded_queue_sees_the_queue_name(sharded):
    handle = tasks.own_queue.using(queue="emails").enqueue()
    run_burst(queues=("emails",))
    assert handle.record().result == "emails"


def test_an_idle_worker_on_many_slots_blocks_and_wakes_at_once(sharded, background_worker, broker):
    background_worker(queues=("emails", "default"))
    tasks.echo.using(queue="default").enqueue("warm-up").result(timeout=10)
    before = command_calls(broker.client, "blpop")
    time.sleep(1.5)  # the idle window being measured
    waits = command_calls(broker.client, "blpop") - before
    # 5 wake-up lists (BLPOP renewed every 2 s) and 5 timer lists (every second or
    # sooner): a handful of calls a second, where polling would make hundreds
    assert waits <= 30, f"{waits} BLPOPs in 1.5 s idle on 10 lists: polling?"
    for i in range(5):
        started = time.monotonic()
        tasks.echo.using(queue="emails").enqueue(i).result(timeout=10)
        took = time.monotonic() - started
        assert took < 1.0, f"task {i} took {took:.2f} s: the worker was not woken"


def test_a_subprocess_worker_serves_a_sharded_queue(sharded, spawn_worker, broker):
    handles = [tasks.echo.using(queue="emails").enqueue(i) for i in range(8)]
    spawn_worker("--queues", "emails", "--burst", env={"TASKQUEUE_SHARDS": '{"emails": 4}'})
    wait_for(lambda: broker.counts("emails").completed == 8, timeout=20, message="the drain")
    assert [h.record().result for h in handles] == list(range(8))
