"""The web process (daphne serving config.asgi) against hostile clients: request bodies
far over the limit, with and without Content-Length, to the API and to the console,
must be refused before they are buffered (config/webserver.py)."""

import json
import socket
import threading

import psutil
import pytest

from .api.live import LiveStack

pytestmark = pytest.mark.slow

HUGE = 200 * 1024 * 1024  # what the client offers to send
CHUNK = 64 * 1024
RSS_GROWTH_MAX = 40 * 1024 * 1024  # a 200 MB body buffered anywhere would blow this


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    stack = LiveStack(tmp_path_factory.mktemp("limits")).start()
    yield stack
    stack.stop()


@pytest.fixture
def stack(live):
    """The stack with a daphne that has served nothing yet, warmed up."""
    live.restart_daphne()
    warmed_up(live)
    return live


class PeakRss:
    """Samples a process's resident memory in a thread until stopped; keeps the peak."""

    def __init__(self, pid: int):
        self.process = psutil.Process(pid)
        self.start_rss = self.peak = self.process.memory_info().rss
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self.stopped.wait(0.02):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> "PeakRss":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.thread.join()

    @property
    def growth(self) -> int:
        return self.peak - self.start_rss


def offer_body(port: int, path: str, *, chunked: bool, total: int = HUGE) -> dict:
    """POST up to `total` bytes to `path` like curl does: stop sending as soon as the
    server answers or hangs up. Returns the status, headers, body and bytes sent."""
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\n{framing}\r\n\r\n"
    )
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(head.encode())
        piece = b"x" * CHUNK
        frame = b"%x\r\n%s\r\n" % (CHUNK, piece) if chunked else piece
        try:
            while sent < total and not _readable(sock):
                sock.sendall(frame)
                sent += CHUNK
            if chunked and sent >= total:
                sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server hung up: read what it answered
        return {**_read_response(sock), "sent": sent}


def _readable(sock: socket.socket) -> bool:
    import select

    return bool(select.select([sock], [], [], 0)[0])


def _read_response(sock: socket.socket) -> dict:
    raw = b""
    try:
        while b"\r\n\r\n" not in raw or len(raw) < _expected_length(raw):
            data = sock.recv(65536)
            if not data:
                break
            raw += data
    except ConnectionResetError:
        pass
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines[0].startswith("HTTP/") else 0
    headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
    return {"status": status, "headers": headers, "body": body}


def _expected_length(raw: bytes) -> int:
    head, sep, _ = raw.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(head) + len(sep) + int(line.split(b":")[1])
    return len(raw) + 1  # unknown: read until the server closes


def warmed_up(stack: LiveStack) -> None:
    """Let daphne load what its first requests need, so only the upload is measured."""
    assert stack.request("GET", "openapi.json")[0] == 200
    conn = stack.connection()
    conn.request("GET", "/login/")
    assert conn.getresponse().status == 200
    conn.close()


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
def test_a_huge_api_body_is_refused_with_413_before_it_is_buffered(stack, chunked):
    with PeakRss(stack.daphne.pid) as rss:
        answer = offer_body(stack.port, "/api/v1/tasks", chunked=chunked)
    assert answer["status"] == 413
    error = json.loads(answer["body"])["error"]
    assert error["code"] == "payload_too_large" and error["fields"] == {}
    assert answer["sent"] < 16 * 1024 * 1024, "the server read on instead of refusing"
    assert rss.growth < RSS_GROWTH_MAX, f"daphne grew by {rss.growth / 2**20:.0f} MiB"


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
def test_a_huge_console_body_is_refused_with_413_before_it_is_buffered(stack, chunked):
    with PeakRss(stack.daphne.pid) as rss:
        answer = offer_body(stack.port, "/login/", chunked=chunked)
    assert answer["status"] == 413
    assert answer["headers"]["content-type"].startswith("text/plain")
    assert answer["sent"] < 16 * 1024 * 1024, "the server read on instead of refusing"
    assert rss.growth < RSS_GROWTH_MAX, f"daphne grew by {rss.growth / 2**20:.0f} MiB"


def test_a_huge_body_to_urls_django_never_routes_is_refused_before_it_is_buffered(stack):
    """The refusal holds in front of everything: static files, the WebSocket's path, a
    URL that does not exist, and the admin."""
    paths = ("/static/taskqueue/console.css", "/ws/dashboard/", "/no/such/url", "/admin/login/")
    with PeakRss(stack.daphne.pid) as rss:
        answers = {path: offer_body(stack.port, path, chunked=True) for path in paths}
    assert {path: a["status"] for path, a in answers.items()} == dict.fromkeys(paths, 413)
    assert all(a["sent"] < 16 * 1024 * 1024 for a in answers.values())
    assert rss.growth < RSS_GROWTH_MAX, f"daphne grew by {rss.growth / 2**20:.0f} MiB"


LOGGED_IN_SESSION = """
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
user, session = User.objects.get(username="svc"), SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.save()
print(session.session_key)
"""


def test_a_websocket_message_over_the_cap_closes_the_socket_before_the_consumer(live):
    """autobahn refuses it as it arrives; daphne's own cap is 1 MiB."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    from config.webserver import WEBSOCKET_MAX_BYTES

    session = live.manage("shell", "-c", LOGGED_IN_SESSION).split()[-1]
    origin = f"http://127.0.0.1:{live.port}"
    headers = {"Cookie": f"sessionid={session}", "Origin": origin}
    with connect(f"ws://127.0.0.1:{live.port}/ws/dashboard/", additional_headers=headers) as ws:
        ws.send("[]")  # what the console sends: the socket stays open
        assert ws.ping().wait(10)
        ws.send("x" * (WEBSOCKET_MAX_BYTES + 1))
        with pytest.raises(ConnectionClosed):  # dropped: autobahn fails by drop
            ws.recv(timeout=10)
