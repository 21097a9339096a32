"""Test fixtures. Broker and worker tests run against a real redis-server that this
session starts on a free loopback port; each test gets its own key prefix, so tests
never see each other's keys and never touch a Redis they did not start.

TASKQUEUE_TEST_REDIS=cluster runs the same tests against a real 3-master Redis Cluster
this session starts instead (tests/topologies.py): `redis_server.url` is then a
redis+cluster:// URL, which the settings, the worker processes and the test tasks use
(`make test-cluster`)."""

import os
import uuid

import pytest

from taskqueue import client, conf
from taskqueue.embedded_redis import RedisProcess, free_port

from .topologies import LocalCluster

TOPOLOGY = os.environ.get("TASKQUEUE_TEST_REDIS", "single")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Each phase's report on the test item (`rep_setup`, `rep_call`), so a fixture's
    teardown can tell that its test failed (tests/support/failures.py)."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    if TOPOLOGY not in ("single", "cluster"):
        pytest.exit(f"TASKQUEUE_TEST_REDIS={TOPOLOGY!r}: use single or cluster", 2)
    folder = tmp_path_factory.mktemp("redis")
    if TOPOLOGY == "cluster":
        server = LocalCluster(folder, masters=3)
    else:
        server = RedisProcess(folder, port=free_port(), persistent=False)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def tq_prefix() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture(autouse=True)
def tq_settings(settings, redis_server, tq_prefix):
    """Point taskqueue at the session's Redis under a fresh prefix; clean up after."""
    settings.TASKQUEUE = {
        "REDIS_URL": redis_server.url,
        "PREFIX": tq_prefix,
        "QUEUES": ["default"],
    }
    yield settings.TASKQUEUE
    redis_client = client.connect(redis_server.url, decode_responses=False)  # any key's bytes
    for key in redis_client.scan_iter(match=f"{tq_prefix}:*", count=1000):
        redis_client.unlink(key)
    redis_client.close()
    client.reset()
    conf.reset_config()


@pytest.fixture
def broker(tq_settings):
    return client.get_broker()


@pytest.fixture
def redis_client(broker):
    return broker.client
