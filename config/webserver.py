"""daphne, guarded: a request body over WEB_MAX_BODY_BYTES is refused as it arrives.

daphne (on Twisted) holds a request's whole body before the application sees any of
it: Twisted spools it (in memory, then in a temporary file past 100 KB), then daphne
copies all of it into the application's queue, in memory, at once. A Django or ASGI
middleware runs too late to refuse it: an unauthenticated 200 MB POST grew the web
process by 200 MB, for good. So the limit is enforced here, where the bytes arrive:

- a declared Content-Length over the limit gets a 413 before any byte of the body;
- a chunked body gets a 413 at the first byte past the limit;
- nothing of a refused request reaches the application. The client gets the 413
  (the API's JSON error shape under /api/, plain text elsewhere), then the
  connection is half-closed; what it still sends is discarded, for at most
  LINGER_SECONDS, so that a client that sends its whole body before it reads (most
  do) still reads the 413 instead of a reset.

Two more bounds while the bytes are ours: Twisted's own parsing of form bodies into
`request.args` is off (daphne never reads it; it held a second copy of the body and
parsed it on the event loop), and WebSocket messages and frames are capped at
WEBSOCKET_MAX_BYTES by autobahn, before a consumer is handed one. Headers are
already bounded by Twisted: 16 KiB for the request line and all headers together,
500 headers at most (a 400 past either).

`config/asgi.py` calls install() whenever daphne serves it, so every way of starting
daphne (`daphne config.asgi:application`, `manage.py runall`, the tests) has the guard.
"""

import json
from typing import override
from urllib.parse import urlsplit

from daphne.http_protocol import HTTPFactory, WebRequest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from twisted.web import http

DEFAULT_MAX_BODY_BYTES = 1_114_112  # 1 MiB + 64 KiB: the API's 1 MiB cap, and headroom
WEBSOCKET_MAX_BYTES = 64 * 1024  # the console's socket carries a list of element ids
LINGER_SECONDS = 5.0  # how long a refused client may go on sending before we hang up
API_PREFIX = "/api/"


class CappedRequest(WebRequest):
    """daphne's request, which refuses a body over its factory's max_body_bytes."""

    def __init__(self, channel, *args, **kwargs):
        super().__init__(channel, *args, parsePOSTFormSubmission=False, **kwargs)
        self.body_bytes = 0
        self.refused = False

    @override
    def gotLength(self, length: int | None) -> None:
        """Called once the headers are in: refuse a declared length over the limit."""
        if length is not None and length > self.limit:
            self.requestHeaders.removeHeader(b"Expect")  # no "100 Continue" after our 413
            self.refuse()
            length = 0
        super().gotLength(length)

    @override
    def handleContentChunk(self, data: bytes) -> None:
        if self.refused:
            return
        self.body_bytes += len(data)
        if self.body_bytes > self.limit:
            self.refuse()
            return
        super().handleContentChunk(data)

    @override
    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        if not self.refused:  # a refused request never reaches the application
            super().requestReceived(command, path, version)

    @property
    def limit(self) -> int:
        return self.channel.factory.max_body_bytes

    def refuse(self) -> None:
        """Answer 413, half-close, and discard whatever the client still sends."""
        self.refused = True
        channel, transport = self.channel, self.channel.transport
        target = getattr(channel, "_path", b"")  # the request line's target (Twisted's)
        transport.write(too_large_response(target, self.limit))
        for name in ("dataReceived", "lineReceived", "rawDataReceived"):
            setattr(channel, name, _discard)  # the channel parses nothing more
        half_close = getattr(transport, "loseWriteConnection", transport.loseConnection)
        half_close()
        channel.factory.reactor.callLater(LINGER_SECONDS, transport.abortConnection)


def _discard(data: bytes) -> None:
    return None


def too_large_response(target: bytes, limit: int) -> bytes:
    """The whole 413 response: the API's error shape under /api/, else plain text."""
    message = f"The request body is over the limit of {limit} bytes."
    path = urlsplit(target.decode("latin-1")).path
    if path.startswith(API_PREFIX):
        error = {"code": "payload_too_large", "message": message, "fields": {}}
        body, content_type = json.dumps({"error": error}).encode(), b"application/json"
    else:
        body, content_type = message.encode() + b"\n", b"text/plain; charset=utf-8"
    head = (
        b"HTTP/1.1 413 Content Too Large\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
        b"X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n"
    )
    return head % (content_type, len(body)) + body


class CappedHTTPFactory(HTTPFactory):
    """daphne's HTTP factory, building CappedRequest. `reactor` is for tests (a Clock);
    daphne's own __init__ is skipped because it cannot take one (it only sets server)."""

    def __init__(self, server, max_body_bytes: int | None = None, reactor=None):
        http.HTTPFactory.__init__(self, reactor=reactor)
        self.server = server
        self.max_body_bytes = max_body_bytes or configured_max_body_bytes()
        cap_websocket_messages(server)

    @override
    def buildProtocol(self, addr):
        protocol = super().buildProtocol(addr)
        protocol.requestFactory = CappedRequest
        return protocol


def configured_max_body_bytes() -> int:
    limit = getattr(settings, "WEB_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)
    if type(limit) is not int or limit < 1:
        raise ImproperlyConfigured(f"WEB_MAX_BODY_BYTES must be an int >= 1, not {limit!r}.")
    return limit


def cap_websocket_messages(server) -> None:
    """daphne's Server.run() builds the HTTP factory, then hands these two sizes to
    autobahn's WebSocket factory: lower them to WEBSOCKET_MAX_BYTES (0 means none)."""
    for name in ("websocket_max_message_size", "websocket_max_frame_size"):
        given = getattr(server, name, 0) or WEBSOCKET_MAX_BYTES
        setattr(server, name, min(given, WEBSOCKET_MAX_BYTES))


def install() -> None:
    """Serve through CappedHTTPFactory: daphne's Server.run() builds its HTTP factory
    from this module-level name of daphne.server."""
    import daphne.server

    daphne.server.HTTPFactory = CappedHTTPFactory
