"""config/webserver.py in-process: daphne's HTTP protocol with the body cap, fed bytes
through Twisted's StringTransport and timed by a Clock (no reactor, no sockets). The
same guard in the real daphne process: tests/test_web_server_limits.py."""

import json

import pytest
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from config import webserver

LIMIT = 1000


class FakeServer:
    """What daphne's request asks of its Server; records the applications it starts."""

    proxy_forwarded_address_header = None
    root_path = ""
    request_buffer_size = 8192
    server_name = "daphne"
    websocket_max_message_size = websocket_max_frame_size = 1024 * 1024  # daphne's CLI

    def __init__(self):
        self.scopes, self.messages = [], []

    def protocol_connected(self, protocol):
        pass

    def protocol_disconnected(self, protocol):
        pass

    def log_action(self, *args):
        pass

    def create_application(self, request, scope):
        self.scopes.append(scope)
        return self  # the application's queue: messages are put here

    def put_nowait(self, message):
        self.messages.append(message)

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.messages)


class HalfClosableTransport(StringTransport):
    write_closed = aborted = False

    def loseWriteConnection(self):
        self.write_closed = True

    def abortConnection(self):
        self.aborted = True


@pytest.fixture
def conn():
    server, clock = FakeServer(), Clock()
    factory = webserver.CappedHTTPFactory(server, max_body_bytes=LIMIT, reactor=clock)
    protocol = factory.buildProtocol(None)
    transport = HalfClosableTransport()
    protocol.makeConnection(transport)
    yield Conn(server, clock, protocol, transport)
    protocol.connectionLost(Failure(ConnectionDone()))  # closes the spooled body


class Conn:
    def __init__(self, server, clock, protocol, transport):
        self.server, self.clock, self.protocol, self.transport = server, clock, protocol, transport

    def send(self, data: bytes) -> None:
        self.protocol.dataReceived(data)

    def head(self, path: str, *headers: str) -> None:
        lines = [f"POST {path} HTTP/1.1", "Host: x", *headers, "", ""]
        self.send("\r\n".join(lines).encode())

    @property
    def answer(self) -> bytes:
        return self.transport.value()


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def test_a_declared_length_over_the_limit_is_refused_before_any_body_byte(conn):
    conn.head("/api/v1/tasks", f"Content-Length: {LIMIT + 1}", "Content-Type: application/json")
    assert conn.answer.startswith(b"HTTP/1.1 413 ")
    assert conn.transport.write_closed
    assert conn.server.scopes == []


def test_a_chunked_body_is_refused_at_the_first_byte_past_the_limit(conn):
    conn.head("/login/", "Transfer-Encoding: chunked")
    conn.send(chunk(b"x" * LIMIT))
    assert conn.answer == b""  # exactly the limit: still fine
    conn.send(chunk(b"x"))
    assert conn.answer.startswith(b"HTTP/1.1 413 ")
    conn.send(chunk(b"x" * 100) + b"0\r\n\r\n")  # the rest, and the end of the body
    assert conn.server.scopes == []  # the application never saw the request


def test_a_body_at_the_limit_reaches_the_application_whole(conn):
    conn.head("/api/v1/tasks", "Transfer-Encoding: chunked", "Content-Type: application/json")
    conn.send(chunk(b"y" * 600) + chunk(b"z" * 400) + b"0\r\n\r\n")
    assert conn.answer == b""
    assert conn.server.scopes[0]["path"] == "/api/v1/tasks"
    assert conn.server.body == b"y" * 600 + b"z" * 400


def test_the_api_gets_its_json_error_shape_and_the_console_plain_text(conn):
    api = webserver.too_large_response(b"/api/v1/tasks?x=1", LIMIT)
    head, _, body = api.partition(b"\r\n\r\n")
    assert b"Content-Type: application/json" in head and b"Connection: close" in head
    assert json.loads(body) == {
        "error": {
            "code": "payload_too_large",
            "message": f"The request body is over the limit of {LIMIT} bytes.",
            "fields": {},
        }
    }
    console = webserver.too_large_response(b"/tasks/bulk/", LIMIT)
    assert b"Content-Type: text/plain; charset=utf-8" in console
    assert f"Content-Length: {len(console.partition(b'\r\n\r\n')[2])}".encode() in console


def test_no_100_continue_follows_the_413(conn):
    conn.head("/login/", f"Content-Length: {LIMIT * 10}", "Expect: 100-continue")
    assert conn.answer.startswith(b"HTTP/1.1 413 ")
    assert b"100 Continue" not in conn.answer


def test_what_a_refused_client_still_sends_is_discarded_then_the_connection_dropped(conn):
    conn.head("/login/", f"Content-Length: {LIMIT * 10}")
    answered = conn.answer
    conn.send(b"x" * (LIMIT * 10))
    conn.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # not even a new request is read
    assert conn.answer == answered and conn.server.scopes == []
    assert not conn.transport.aborted
    conn.clock.advance(webserver.LINGER_SECONDS)
    assert conn.transport.aborted


def test_form_bodies_are_not_parsed_by_the_server(conn):
    """Twisted would parse them into request.args (a second copy, on the event loop);
    daphne never reads those, and Django parses the body itself."""
    body = b"&".join(b"k%d=v" % i for i in range(100))
    conn.head("/login/", f"Content-Length: {len(body)}",
              "Content-Type: application/x-www-form-urlencoded")  # fmt: skip
    conn.send(body)
    (request,) = conn.protocol._channel.requests  # in progress: no response yet
    assert conn.server.body == body
    assert request.args == {}


@pytest.mark.parametrize("given", [1024 * 1024, 0])
def test_websocket_messages_and_frames_are_capped_for_autobahn(given):
    server = FakeServer()
    server.websocket_max_message_size = server.websocket_max_frame_size = given
    webserver.CappedHTTPFactory(server, reactor=Clock())
    assert server.websocket_max_message_size == webserver.WEBSOCKET_MAX_BYTES
    assert server.websocket_max_frame_size == webserver.WEBSOCKET_MAX_BYTES


def test_the_limit_comes_from_the_setting(settings):
    settings.WEB_MAX_BODY_BYTES = 4096
    factory = webserver.CappedHTTPFactory(FakeServer(), reactor=Clock())
    assert factory.max_body_bytes == 4096


def test_a_bad_limit_setting_stops_the_server_with_a_message(settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.WEB_MAX_BODY_BYTES = "1MB"
    with pytest.raises(ImproperlyConfigured, match="WEB_MAX_BODY_BYTES"):
        webserver.CappedHTTPFactory(FakeServer(), reactor=Clock())


@pytest.mark.parametrize("raw", ["1MB", "0", "-5", ""])
def test_a_bad_limit_in_the_environment_stops_the_settings_with_a_message(monkeypatch, raw):
    from django.core.exceptions import ImproperlyConfigured

    from config.env import env_int

    monkeypatch.setenv("WEB_MAX_BODY_BYTES", raw)
    with pytest.raises(ImproperlyConfigured, match="WEB_MAX_BODY_BYTES"):
        env_int("WEB_MAX_BODY_BYTES", 1)
    monkeypatch.setenv("WEB_MAX_BODY_BYTES", " 2048 ")
    assert env_int("WEB_MAX_BODY_BYTES", 1) == 2048
