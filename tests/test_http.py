"""config/http.py: HTTP served through Django's synchronous handler on a thread pool."""

import asyncio

import pytest
from django.core.signals import request_finished, request_started

from config.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


def call(path: str, method: str = "GET", body: bytes = b"", headers=()) -> tuple[int, bytes]:
    """One request through the ASGI application, in-process."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost"), *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }
    sent, out = [], {"status": 0, "body": b""}

    async def receive():
        if not sent:
            sent.append(True)
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)

    async def send(message):
        if message["type"] == "http.response.start":
            out["status"] = message["status"]
        else:
            out["body"] += message.get("body", b"")

    asyncio.run(application(scope, receive, send))
    return out["status"], out["body"]


def test_every_request_starts_and_finishes_for_django():
    seen = []

    def started(**kwargs):
        seen.append("started")

    def finished(**kwargs):
        seen.append("finished")

    request_started.connect(started)
    request_finished.connect(finished)
    try:
        status, _ = call("/login/")
    finally:
        request_started.disconnect(started)
        request_finished.disconnect(finished)
    assert status == 200
    assert seen == ["started", "finished"]  # request_finished closes connections and files


@pytest.mark.parametrize("path", ["/static/..%2fmanage.py", "/static/%2e%2e/%2e%2e/manage.py"])
def test_a_static_path_leaving_the_static_folders_is_404_not_500(path):
    assert call(path)[0] == 404
