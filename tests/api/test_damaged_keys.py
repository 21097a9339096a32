"""The API and the console with keys of the wrong type in Redis (issue 13): every read
answers (never a 500), flags what it skipped, and a write moves the key aside and
succeeds. The same (key kind x wrong type) table as tests/test_broker_damage.py."""

import pytest
from django.test import Client

from taskqueue.broker.damage import KIND_TYPES
from tests.support.web import logged_in

from ..damage import spoil, wrong_types

pytestmark = pytest.mark.django_db

QUEUE_KEYS = [(kind, t) for kind, expected in KIND_TYPES.items() for t in wrong_types(expected)]
GLOBAL = {"queues": "set", "workers": "zset", "periodic": "hash"}  # what the pages read
READS = (
    "queues",
    "queues/default",
    "metrics",
    "dlq",
    "tasks",
    "tasks?queue=default&status=pending",
    "tasks?queue=default&status=dead",
    "workers",
)
PAGES = ("/", "/queues/default/", "/tasks/", "/dead/", "/scheduled/", "/workers/", "/periodic/")


@pytest.fixture
def console(operator) -> Client:
    return logged_in(operator)


def statuses(api, console) -> dict[str, int]:
    found = {path: api.client.get(f"/api/v1/{path}").status_code for path in READS}
    found |= {path: console.get(path).status_code for path in PAGES}
    found["health"] = api.get("health").status_code  # 503: no worker runs here
    return found


def expected() -> dict[str, int]:
    return dict.fromkeys((*READS, *PAGES), 200) | {"health": 503}


@pytest.mark.parametrize(("kind", "wrong"), QUEUE_KEYS)
def test_reads_answer_and_flag_a_queue_key_of_the_wrong_type_and_an_enqueue_heals_it(
    api, console, broker, redis_client, kind, wrong
):
    api.post("tasks", {"task": "tests.api.echo", "args": [1]})
    key = getattr(broker.keys.queue("default"), kind)
    spoil(redis_client, key, wrong)
    assert statuses(api, console) == expected()
    damaged = api.get("queues/default").json()["damaged"]
    assert damaged == [{"key": key, "type": wrong, "expected": KIND_TYPES[kind]}]
    if kind != "runtime":  # only the workers write the runtime histograms
        assert api.post("tasks", {"task": "tests.api.echo", "args": [2]}).status_code == 201
        assert api.post("queues/default/pause").status_code == 200
        assert api.post("queues/default/purge").status_code == 200


@pytest.mark.parametrize(
    ("name", "wrong"), [(n, t) for n, e in GLOBAL.items() for t in wrong_types(e)]
)
def test_reads_answer_with_a_global_key_of_the_wrong_type(
    api, console, broker, redis_client, name, wrong
):
    api.post("tasks", {"task": "tests.api.echo", "args": [1]})
    spoil(redis_client, getattr(broker.keys, name), wrong)
    assert statuses(api, console) == expected()


@pytest.mark.parametrize("set_kind", ["pending", "dead", "index"])
@pytest.mark.parametrize("wrong", wrong_types("hash"))
def test_listings_skip_and_flag_a_task_record_of_the_wrong_type(
    api, console, broker, redis_client, set_kind, wrong
):
    q = broker.keys.queue("default")
    spoil(redis_client, q.task("w1"), wrong)
    redis_client.zadd(getattr(q, set_kind), {"w1": 0})
    redis_client.zadd(q.index, {"w1": 0})
    assert statuses(api, console) == expected()
    assert api.get("tasks").json()["damaged"] == [q.task("w1")]
    assert api.get("tasks/w1").status_code == 404
    assert api.post("tasks/w1/cancel").status_code == 404
