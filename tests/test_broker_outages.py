"""Redis that cannot serve: every broker call fails fast with BrokerUnavailable."""

import time

import pytest

from taskqueue.client import build_broker
from taskqueue.conf import build
from taskqueue.embedded_redis import RedisProcess, free_port
from taskqueue.errors import BrokerUnavailable

from .factories import make_task


def test_a_full_redis_under_noeviction_refuses_enqueues_as_unavailable(tmp_path):
    args = ("--maxmemory", "2mb", "--maxmemory-policy", "noeviction")
    with RedisProcess(tmp_path, port=free_port(), persistent=False, extra_args=args) as server:
        broker = build_broker(build({"REDIS_URL": server.url, "PREFIX": "oom"}))
        with pytest.raises(BrokerUnavailable, match="maxmemory"):
            fill_until_refused(broker)
        assert broker.counts("default").pending > 0, "what was accepted is still there"


def test_a_redis_that_is_not_there_fails_within_seconds():
    broker = build_broker(
        build({"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", "SOCKET_TIMEOUT": 1.0})
    )
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable, match="unavailable"):
        broker.enqueue([make_task()])
    assert time.monotonic() - started < 5


def fill_until_refused(broker) -> None:
    for _ in range(10_000):
        broker.enqueue([make_task(args=["x" * 10_000]) for _ in range(10)])
