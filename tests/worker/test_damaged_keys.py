"""Issue 13, M4, with a real worker: `SET <p>:{default}:task:w1 garbage` and `ZADD
<p>:{default}:pending 0 w1` once stalled every queue (each claim failed with WRONGTYPE),
cost a task claimed from `high` in the same round a lost lease, and made the queue
pages, /metrics, the DLQ and the console answer 500."""

import asyncio
from datetime import UTC, datetime

import pytest
from django.test import Client

from taskqueue import archive, inspect
from taskqueue.broker.async_broker import AsyncRedisBroker
from taskqueue.client import connect_async
from taskqueue.conf import get_config
from taskqueue.periodic import Schedule
from taskqueue.registry import registry
from taskqueue.worker.heartbeat import Heartbeat, RuntimeStats
from taskqueue.worker.maintenance import Maintenance
from taskqueue.workers import WorkerBeat
from tests.damage import spoil, wrong_types
from tests.support.waits import wait_for
from tests.support.web import Api, make_token, make_user
from tests.taskapp import tasks

pytestmark = pytest.mark.django_db

PAGES = ("queues", "metrics", "dlq")


def answers(reader: Api, viewer: Client) -> list[int]:
    return [reader.get(path).status_code for path in PAGES] + [viewer.get("/").status_code]


def test_a_garbage_entry_in_one_queue_stalls_no_queue_and_is_quarantined(
    background_worker, broker, redis_client
):
    q = broker.keys.queue("default")
    redis_client.set(q.task("w1"), "garbage")
    redis_client.zadd(q.pending, {"w1": 0})
    high = tasks.echo.using(queue="high").enqueue("on high")
    behind = tasks.echo.enqueue("behind the garbage")
    user = make_user("vera", "view_console")
    reader, viewer = Api(make_token(user, ("read",))), Client()
    viewer.force_login(user)

    background_worker(queues=("high", "default"))

    assert high.result(timeout=10) == "on high"
    assert behind.result(timeout=10) == "behind the garbage"
    record = high.record()
    assert (record.attempts, record.lost) == (1, 0)
    assert [a.outcome for a in record.history] == ["completed"]
    assert redis_client.zscore(q.pending, "w1") is None
    assert redis_client.get(q.base + "quarantine:task:w1") == "garbage"
    metrics = reader.get("metrics").content.decode()
    assert 'taskqueue_keys_quarantined_total{queue="default"} 1.0' in metrics
    assert answers(reader, viewer) == [200] * 4


def test_the_pages_answer_while_the_garbage_entry_is_still_there(broker, redis_client):
    q = broker.keys.queue("default")
    redis_client.set(q.task("w1"), "garbage")
    redis_client.zadd(q.pending, {"w1": 0})
    tasks.echo.enqueue("behind the garbage")
    user = make_user("vera", "view_console")
    reader, viewer = Api(make_token(user, ("read",))), Client()
    viewer.force_login(user)
    assert answers(reader, viewer) == [200] * 4
    page = viewer.get("/queues/default/", {"status": "pending"})
    assert page.status_code == 200
    assert "1 record skipped here" in page.content.decode()


@pytest.mark.parametrize("wrong", wrong_types("zset"))
def test_a_worker_registry_of_the_wrong_type_is_moved_aside_by_the_next_heartbeat(
    background_worker, broker, redis_client, wrong
):
    spoil(redis_client, broker.keys.workers, wrong)
    worker = background_worker()
    wait_for(lambda: [w.id for w in inspect.workers()] == [worker.id], 10, "registered")
    assert inspect.global_damage() == ([], 1)
    moved = list(
        redis_client.scan_iter(match=f"{broker.keys.prefix}:quarantine:{{{broker.keys.workers}}}:*")
    )
    assert [redis_client.type(key) for key in moved] == [wrong]


def test_a_registry_entry_of_the_wrong_type_is_moved_aside_by_its_heartbeat(broker, redis_client):
    entry = lambda: WorkerBeat("w1", "w1", "host", 1, ("default",), 1, 1, 0)  # noqa: E731
    beat = Heartbeat(broker, 10, list, lambda *a: None, entry, RuntimeStats())
    spoil(redis_client, broker.keys.worker("w1"), "list")
    assert beat.beat() is True
    assert [w.id for w in inspect.workers()] == ["w1"]
    assert inspect.global_damage() == ([], 1)


@pytest.mark.parametrize("wrong", wrong_types("hash"))
def test_a_periodic_state_of_the_wrong_type_is_moved_aside_by_the_next_tick(
    broker, redis_client, wrong
):
    spoil(redis_client, broker.keys.periodic, wrong)
    schedule = Schedule("every-minute", "tests.taskapp.tasks.tick", "* * * * *")

    async def fire():
        client = connect_async(get_config())
        maintenance = Maintenance(AsyncRedisBroker(client, get_config()), ["default"], [], registry)
        try:
            await maintenance.fire(schedule, datetime(2030, 1, 1, tzinfo=UTC))
        finally:
            await client.aclose()

    asyncio.run(fire())
    assert broker.periodic_state()["every-minute"].last_tick_ms == 1893456000000
    assert inspect.global_damage() == ([], 1)


@pytest.mark.parametrize("wrong", wrong_types("string"))
def test_an_archive_lock_of_the_wrong_type_no_longer_stops_the_archive(broker, redis_client, wrong):
    spoil(redis_client, broker.keys.archive_lock, wrong)  # no TTL: it would stay for good
    assert archive.archive_if_due(interval=60) == 0
    assert redis_client.type(broker.keys.archive_lock) == "string"
