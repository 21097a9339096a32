"""A task record holding bytes that are not UTF-8 (anyone with access to Redis can write
one) is shown with U+FFFD in their place: the console pages and the API answer 200,
not 500."""

import time

import pytest
import redis

from api.tokens import create_token
from taskqueue.audit import Actor
from tests.api.conftest import Api

pytestmark = pytest.mark.django_db


@pytest.fixture
def bad_record(redis_server, tq_prefix) -> str:
    r = redis.Redis.from_url(redis_server.url)  # bytes in, bytes out
    base = f"{tq_prefix}:{{default}}:"
    now = int(time.time() * 1000)
    fields = {
        "id": "bad",
        "name": b"tests.\xff",
        "queue": "default",
        "status": "dead",
        "args": b'["\xff\xfe"]',
        "kwargs": "{}",
        "error_type": "InvalidTaskRecord",
        "error_message": b"not \xfe UTF-8",
        "traceback": b"Traceback \xff",
        "created_at": now,
        "finished_at": now,
    }
    r.hset(base + "task:bad", mapping=fields)
    r.zadd(base + "dead", {"bad": now})
    r.zadd(base + "index", {"bad": now})
    r.sadd(f"{tq_prefix}:queues", "default")
    r.close()
    return "bad"


@pytest.mark.parametrize("url", ["/tasks/bad/", "/tasks/", "/dead/", "/"])
def test_console_pages_show_it(viewer_client, bad_record, url):
    response = viewer_client.get(url)
    assert response.status_code == 200


def test_the_api_shows_it(viewer, bad_record):
    api = Api(create_token(Actor("t", "system"), viewer, "t", ("read",))[1])
    detail = api.get("tasks/bad")
    assert detail.status_code == 200
    assert detail.json()["error_message"] == "not \ufffd UTF-8"
    assert detail.json()["args"] == ["\ufffd\ufffd"]
    assert api.get("tasks").status_code == 200
    assert api.get("dlq").status_code == 200
