"""Console WebSocket helpers for the tests: a logged-in session's cookie, a socket
opened the way a browser on http://localhost opens it, and waits on what comes back."""

import asyncio
import time

from channels.testing import WebsocketCommunicator

from config.asgi import application
from tests.support.web import logged_in

LOCAL = (b"origin", b"http://localhost")


def session_cookie(user) -> tuple[bytes, bytes]:
    client = logged_in(user)
    return b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()


def communicator(*headers) -> WebsocketCommunicator:
    """A socket opened on http://localhost (the Host header a browser sends)."""
    return WebsocketCommunicator(
        application, "/ws/dashboard/", headers=[(b"host", b"localhost"), *headers]
    )


async def receive_until(ws: WebsocketCommunicator, needle: str, timeout: float = 5.0) -> str:
    """The first message that contains `needle` (earlier ones are skipped)."""
    while True:
        message = await ws.receive_from(timeout=timeout)
        if needle in message:
            return message


async def until(condition, timeout: float, what: str) -> None:
    """Wait (without blocking the loop) until condition() is true; fail after timeout."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout} s for {what}")
        await asyncio.sleep(0.01)


async def next_close(ws: WebsocketCommunicator, timeout: float = 5.0) -> dict:
    """The server's next close message (pushes before it are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        message = await ws.receive_output(timeout=max(0.01, deadline - time.monotonic()))
        if message["type"] == "websocket.close":
            return message
