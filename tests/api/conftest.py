"""Fixtures of the API tests: users with the console permissions, tokens, and a client
that speaks JSON with a bearer token. Two tasks are registered for the tests here."""

import json

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from api.tokens import create_token
from taskqueue import task
from taskqueue.audit import Actor
from taskqueue.records import TaskError

ALL_SCOPES = ("read", "enqueue", "operate")


@task(name="tests.api.echo")
def echo(*args, **kwargs):
    return {"args": list(args), "kwargs": kwargs}


@task(name="tests.api.mail", queue="emails", max_retries=0)
def mail(to):
    return to


class Api:
    """A test client for /api/v1/: JSON in, the response out (`.json()` to read it)."""

    def __init__(self, token: str | None = None, client: Client | None = None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = client or Client(headers=headers)

    def get(self, path: str, **params):
        return self.client.get(f"/api/v1/{path}", params)

    def post(self, path: str, body=None, *, headers=None, raw: bytes | str | None = None,
             content_type: str = "application/json"):  # fmt: skip
        data = raw if raw is not None else ("" if body is None else json.dumps(body))
        return self.client.post(
            f"/api/v1/{path}", data, content_type=content_type, headers=headers or {}
        )

    def delete(self, path: str):
        return self.client.delete(f"/api/v1/{path}")


def make_user(username: str, *codenames: str, **extra) -> User:
    user = User.objects.create_user(username, password=None, **extra)  # no slow hashing
    perms = Permission.objects.filter(content_type__app_label="taskqueue", codename__in=codenames)
    user.user_permissions.add(*perms)
    return user


def make_token(user: User, scopes=ALL_SCOPES, name: str = "tests") -> str:
    return create_token(Actor("tests", "system"), user, name, scopes)[1]


@pytest.fixture
def operator(db) -> User:
    return make_user("olga", "view_console", "operate_tasks")


@pytest.fixture
def api(operator) -> Api:
    """A client with a token holding every scope."""
    return Api(make_token(operator, name="ci"))


@pytest.fixture
def reader(operator) -> Api:
    """A client whose token may only read."""
    return Api(make_token(operator, ("read",), name="dashboards"))


def error_of(response) -> dict:
    """The `error` object of an API error response (and proof of the one shape)."""
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}
    return body["error"]


def make_dead(broker, task_id: str, queue: str = "default", error_type: str = "ValueError"):
    """Let a worker claim and fail the queue's next task, which must be `task_id`."""
    (claimed,) = broker.claim(queue, "worker-1", 1)
    assert claimed.id == task_id
    error = TaskError(error_type, "boom", "Traceback ...")
    broker.fail(queue, task_id, claimed.attempt, retry_delay_ms=None, error=error)
    return task_id


def register_worker(broker, worker_id: str, *, silent_for_s: float = 0.0, queues="default"):
    """A worker registry entry as the worker writes it (docs/redis-keys.md)."""
    beat = broker.time_ms() - int(silent_for_s * 1000)
    broker.client.zadd(broker.keys.workers, {worker_id: beat})
    broker.client.hset(
        broker.keys.worker(worker_id),
        mapping={"id": worker_id, "name": f"{worker_id}@host", "host": "host", "pid": 4242,
                 "queues": queues, "concurrency": 4, "processes": 1, "started_at": beat,
                 "heartbeat_at": beat, "in_flight": 1, "processed": 10, "failed": 2,
                 "state": "running"},
    )  # fmt: skip


@pytest.fixture
def unreachable_redis(settings, tq_settings):
    """Point taskqueue at a loopback port nobody listens on."""
    from taskqueue.embedded_redis import free_port

    settings.TASKQUEUE = tq_settings | {"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}


@pytest.fixture(scope="session")
def live_stack(tmp_path_factory):
    """Redis + daphne + a token, as real processes (see live.py); started once."""
    from .live import LiveStack

    stack = LiveStack(tmp_path_factory.mktemp("live")).start()
    yield stack
    stack.stop()


@pytest.fixture(autouse=True)
def fresh_token_cache():
    """Each test starts with no token looked up yet (tokens.find_token caches them)."""
    from api.tokens import forget_tokens

    forget_tokens()
