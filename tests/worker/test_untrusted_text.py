"""Issue 13, L5: text read from Redis that is not UTF-8 (anyone can write such bytes;
the clients keep them as lone surrogates) used later as a key, a field, a label or a
log field. A task name like that made RuntimeStats.flush fail with UnicodeEncodeError
on every heartbeat, holding back every task's runtime statistics until a restart; a
task id like that made every lease renewal of its worker fail. Each is sent back to
Redis as its own bytes, and shown with \\xNN escapes."""

import pytest

from taskqueue import archive
from taskqueue.client import build_broker, connect
from taskqueue.conf import get_config
from taskqueue.models import TaskArchive
from taskqueue.worker.heartbeat import Heartbeat, RuntimeStats
from tests.support.web import Api, make_token, make_user

pytestmark = pytest.mark.django_db

ODD_NAME = b"\xff\xfe.not-utf8"
ODD = ODD_NAME.decode("utf-8", "surrogateescape")  # as the worker's client reads it


@pytest.fixture
def raw(redis_server):
    client = connect(redis_server.url, decode_responses=False)
    yield client
    client.close()


def test_a_task_name_that_is_not_utf8_does_not_hold_back_the_runtime_statistics(broker, raw):
    stats, heartbeat_broker = RuntimeStats(), build_broker(get_config())
    stats.record("default", ODD, 0.2)
    stats.record("default", "tests.taskapp.tasks.echo", 0.1)
    stats.flush(heartbeat_broker)
    assert not stats.take()  # nothing held back for the next beat
    runtime = raw.hgetall(broker.keys.queue("default").runtime.encode())
    assert runtime[ODD_NAME + b"|count"] == b"1"
    assert runtime[b"tests.taskapp.tasks.echo|count"] == b"1"
    stats.record("default", "tests.taskapp.tasks.echo", 0.1)
    stats.flush(heartbeat_broker)  # the next beat too
    assert raw.hget(broker.keys.queue("default").runtime, b"tests.taskapp.tasks.echo|count") == b"2"


def test_its_runtime_histogram_is_exported_under_an_escaped_label(broker, raw):
    counts = {b"b3": 2, b"count": 2, b"sum_ms": 60}
    raw.hset(
        broker.keys.queue("default").runtime,
        mapping={ODD_NAME + b"|" + k: v for k, v in counts.items()},
    )
    reader = Api(make_token(make_user("rita", "view_console"), ("read",)))
    response = reader.get("metrics")
    assert response.status_code == 200
    text = response.content.decode()
    assert (
        'taskqueue_task_runtime_seconds_count{queue="default",task="\\\\xff\\\\xfe.not-utf8"} 2.0'
        in text
    )


def test_the_heartbeat_renews_the_lease_of_a_task_whose_id_is_not_utf8(broker, raw):
    base = broker.keys.queue("default").base.encode()
    for task_id in (ODD_NAME, b"plain"):
        raw.hset(base + b"task:" + task_id, mapping={"id": task_id, "status": "pending"})
        raw.zadd(base + b"pending", {task_id: 1 if task_id == b"plain" else 0})
    claimed = broker.claim("default", "w1", 2, lease_ms=1000)
    assert {c.id for c in claimed} == {ODD, "plain"}
    leases = lambda: dict(raw.zrange(base + b"active", 0, -1, withscores=True))  # noqa: E731
    before, answers = leases(), []
    held = [(c.queue, c.id, c.attempt, None) for c in claimed]
    beat_broker = build_broker(get_config())
    Heartbeat(
        beat_broker, 10, lambda: held, lambda *a: answers.append(a), dict, RuntimeStats()
    ).renew()
    assert answers == []  # both renewed (only other answers are reported)
    assert all(leases()[task_id] > before[task_id] + 10_000 for task_id in (ODD_NAME, b"plain"))


def test_pages_show_a_worker_entry_and_a_task_id_that_are_not_utf8(broker, raw):
    raw.hset(broker.keys.worker("w9"), mapping={"id": b"w9", "name": ODD_NAME, "heartbeat_at": 1})
    raw.zadd(broker.keys.workers, {b"w9": 1})
    base = broker.keys.queue("default").base.encode()
    raw.hset(
        base + b"task:" + ODD_NAME, mapping={"id": ODD_NAME, "status": "pending", "name": ODD_NAME}
    )
    raw.zadd(base + b"pending", {ODD_NAME: 0})
    raw.zadd(base + b"index", {ODD_NAME: 0})
    user = make_user("vera", "view_console")
    reader = Api(make_token(user, ("read",)))
    reader.client.force_login(user)
    assert reader.client.get("/workers/").status_code == 200
    assert reader.client.get("/queues/default/", {"status": "pending"}).status_code == 200
    assert reader.get("workers").json()["items"][0]["name"] == "\\xff\\xfe.not-utf8"
    listing = reader.get("tasks", queue="default")
    assert listing.status_code == 200 and len(listing.json()["items"]) == 1


def test_the_archive_goes_past_a_dead_letter_whose_id_is_not_utf8(broker, raw):
    past = broker.time_ms() - 3_600_000
    base = broker.keys.queue("default").base.encode()
    for task_id in (ODD_NAME, b"plain"):
        fields = {"id": task_id, "name": "x", "queue": "default", "status": "dead"}
        raw.hset(base + b"task:" + task_id, mapping=fields | {"finished_at": past})
        raw.zadd(base + b"dead", {task_id: past})
    assert archive.archive_once() == 2
    archive.archive_once()  # the checkpoint (text) stays before the odd id: no harm
    assert TaskArchive.objects.count() == 2
    assert TaskArchive.objects.filter(task_id="plain").exists()
