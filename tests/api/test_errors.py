"""The API's errors outside any one endpoint: unknown paths, methods, Redis down."""

import socket
import time

import pytest

from tests.support.web import error_of

pytestmark = pytest.mark.django_db

ENDPOINTS = [
    ("get", "tasks"), ("get", "tasks/some-id"), ("post", "tasks/some-id/cancel"),
    ("get", "queues"), ("get", "queues/default"), ("post", "queues/default/pause"),
    ("get", "dlq"), ("post", "dlq/purge"), ("get", "workers"), ("get", "metrics"),
]  # fmt: skip


@pytest.mark.parametrize("path", ["nope", "tasks/", "v2/tasks", "tasks/a/b/c"])
def test_an_unknown_path_is_a_json_404(api, path):
    response = api.get(path)
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"
    assert api.post(path, {}).status_code == 404  # even without a CSRF token


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("put", "tasks", "GET, POST"), ("get", "tasks/x/cancel", "POST"),
    ("patch", "tasks/x", "DELETE, GET"), ("delete", "queues", "GET"),
])  # fmt: skip
def test_a_wrong_method_is_a_json_405_with_allow(api, method, path, allow):
    response = getattr(api.client, method)(f"/api/v1/{path}")
    assert response.status_code == 405 and response["Allow"] == allow
    assert error_of(response)["code"] == "method_not_allowed"


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_redis_refusing_connections_is_503(api, unreachable_redis, method, path):
    response = api.post(path, {"filter": {}}) if method == "post" else api.get(path)
    assert response.status_code == 503
    assert error_of(response)["code"] == "broker_unavailable"


@pytest.fixture
def silent_redis(settings, tq_settings):
    """A port that accepts connections and never answers (a hung Redis)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        port = listener.getsockname()[1]
        settings.TASKQUEUE = tq_settings | {
            "REDIS_URL": f"redis://127.0.0.1:{port}/0", "SOCKET_TIMEOUT": 0.5,
        }  # fmt: skip
        yield


def test_a_hung_redis_is_503_within_a_few_seconds_not_a_hang(api, silent_redis):
    started = time.monotonic()
    response = api.post("tasks", {"task": "tests.api.echo"})
    assert response.status_code == 503
    assert time.monotonic() - started < 5  # two timeouts of 0.5 s, with margin
