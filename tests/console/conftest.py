"""Fixtures of the console tests: users of each role and logged-in clients."""

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from taskqueue import task
from taskqueue.records import TaskError


@task(name="console.sample")
def sample(*args, **kwargs):
    return None


@task(name="console.other", queue="emails")
def other(*args, **kwargs):
    return None


def make_user(username: str, *perms: str) -> User:
    user = User.objects.create_user(username)  # no password: tests log in with force_login
    for codename in perms:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    return user


@pytest.fixture
def viewer(db) -> User:
    return make_user("vera", "view_console")


@pytest.fixture
def operator(db) -> User:
    return make_user("otto", "view_console", "operate_tasks")


@pytest.fixture
def nobody(db) -> User:
    return make_user("nick")


@pytest.fixture
def viewer_client(viewer) -> Client:
    client = Client()
    client.force_login(viewer)
    return client


@pytest.fixture
def operator_client(operator) -> Client:
    client = Client()
    client.force_login(operator)
    return client


HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def in_memory_layer(settings):
    """Unit tests of the consumer use Channels' in-memory layer (the browser tests run
    daphne with channels-redis)."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


@pytest.fixture
def relay_stops():
    """After the test, the relay thread must end (its connections are gone)."""
    from dashboard.live.relay import RELAY

    yield RELAY
    assert RELAY.join(timeout=10), "the console relay thread did not stop"


def make_dead(broker, handle, error_type="ValueError", message="boom", traceback="Traceback"):
    """Claim the queue's next task (the one given) and fail it for good."""
    (claimed,) = broker.claim(handle.queue, "worker-1", 1)
    assert claimed.id == handle.id
    broker.fail(claimed.queue, claimed.id, claimed.attempt, retry_delay_ms=None,
                error=TaskError(error_type, message, traceback))  # fmt: skip
    return handle.id


def register_worker(redis_client, keys, worker_id: str, heartbeat_ms: int, **fields) -> None:
    """A worker registry entry as a running worker writes it (see taskqueue/workers.py)."""
    entry = {"id": worker_id, "name": worker_id, "host": "web-1", "pid": 4242,
             "queues": "default,emails", "concurrency": 8, "processes": 1,
             "started_at": heartbeat_ms - 60_000, "heartbeat_at": heartbeat_ms,
             "in_flight": 2, "processed": 120, "failed": 3, "state": "running"}  # fmt: skip
    redis_client.hset(keys.worker(worker_id), mapping=entry | fields)
    redis_client.zadd(keys.workers, {worker_id: heartbeat_ms})
