"""The console's WebSocket: `/ws/dashboard/`. The page says which live elements it
shows; the relay pushes their HTML when they change. Nothing is accepted from the
browser but that list.

A socket cannot hurt the process it talks to: a message that is not a watch list (too
long, not JSON, nested too deep to parse, of another shape, a binary frame) is ignored
and the socket goes on; a socket holds at most MAX_WATCHED watches (relay.py); and
whatever ends it (the browser leaving, a close from our side, an exception, the task
cancelled) releases its watches, in __call__'s `finally`. A socket that ended with its
watches registered would keep the relay reading Redis for them as long as the process
lived.
"""

import asyncio
import json
import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.contrib.auth import get_user_model

from taskqueue.conf import QUEUE_NAME_RE

from ..access import can_operate, can_view
from ..fragments import KINDS
from .relay import MAX_WATCHED, RELAY, Item, Subscriber

log = logging.getLogger(__name__)

MAX_MESSAGE = 64 * 1024  # characters; MAX_WATCHED watches of the longest kind need ~45,000
RECHECK_S = 5.0  # how often an open socket re-checks its session and permissions
CLOSE_FORBIDDEN = 4403
CLOSE_ERROR = 1011  # the re-check itself failed: closed rather than left unchecked


class ConsoleConsumer(AsyncWebsocketConsumer):
    subscriber: Subscriber | None = None
    recheck: asyncio.Task | None = None

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.release()

    async def connect(self) -> None:
        user = self.scope.get("user")
        allowed, operate = await database_sync_to_async(roles)(user)
        if not allowed:
            await self.close()  # before accept: the handshake is refused (HTTP 403)
            return
        await self.accept()
        loop = asyncio.get_running_loop()
        self.subscriber = Subscriber(deliver=self.threadsafe_sender(loop), can_operate=operate)
        RELAY.add(self.subscriber)
        self.recheck = asyncio.create_task(self._recheck())

    async def _recheck(self) -> None:
        """Logged out, deactivated or stripped of the console permission: the socket
        closes within RECHECK_S, and an operator demoted to viewer loses its buttons.
        A re-check that fails closes the socket too: it must not stay open unchecked."""
        while True:
            await asyncio.sleep(RECHECK_S)
            try:
                allowed, operate = await database_sync_to_async(current_roles)(self.scope)
            except Exception:
                log.warning("console socket: access re-check failed; closing", exc_info=True)
                await self.close(code=CLOSE_ERROR)
                return
            if not allowed:
                await self.close(code=CLOSE_FORBIDDEN)
                return
            if self.subscriber is not None:
                self.subscriber.can_operate = operate

    def threadsafe_sender(self, loop: asyncio.AbstractEventLoop):
        def deliver(html: str) -> None:
            asyncio.run_coroutine_threadsafe(self.send(text_data=html), loop)

        return deliver

    async def websocket_receive(self, message: dict) -> None:
        """A text frame; anything else (a binary frame) reads as no message. Nothing a
        message holds ends the socket."""
        text = message.get("text")
        try:
            await self.receive(text_data=text if isinstance(text, str) else None)
        except Exception:
            log.warning("console socket: ignored a message it could not handle", exc_info=True)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None):
        items = parse_watch(text_data)
        if self.subscriber is not None and items is not None:
            RELAY.watch(self.subscriber, items)

    async def close(self, code=None, reason=None) -> None:
        """Closing from our side ends the socket now: its watches go at once (the
        browser's answer, and with it disconnect(), may never come)."""
        try:
            await super().close(code, reason)
        finally:
            self.release()

    async def disconnect(self, code: int) -> None:
        self.release()

    def release(self) -> None:
        """Stop the re-check and leave the relay (again and again: it is idempotent)."""
        if self.recheck is not None:
            self.recheck.cancel()
        if self.subscriber is not None:
            RELAY.remove(self.subscriber)
            self.subscriber = None


def roles(user) -> tuple[bool, bool]:
    if user is None or not user.is_authenticated:
        return False, False
    return can_view(user), can_operate(user)


def current_roles(scope) -> tuple[bool, bool]:
    """The roles of the socket's session as they are now (read afresh from the
    database: the session may have ended, the user been deactivated or demoted)."""
    session = scope.get("session")
    if session is None or not session.session_key or not session.exists(session.session_key):
        return False, False
    user = scope.get("user")
    if user is None or not user.is_authenticated:
        return False, False
    # (the scope's user is Channels' lazy proxy: type(user) is the proxy, not the model)
    fresh = get_user_model()._default_manager.filter(pk=user.pk).first()
    return roles(fresh) if fresh is not None and fresh.is_active else (False, False)


def parse_watch(text: object) -> set[Item] | None:
    """{"watch": ["queue-card:default", "task-row:<id>", ...]} -> the valid items among
    its first MAX_WATCHED entries; None for anything else (not text, too long, not
    JSON, nested too deep to parse, another shape). Never raises."""
    if not isinstance(text, str) or not text or len(text) > MAX_MESSAGE:
        return None
    try:
        message = json.loads(text)
    except (ValueError, RecursionError):  # json.loads raises RecursionError past ~10,000 deep
        return None
    entries = message.get("watch") if isinstance(message, dict) else None
    if not isinstance(entries, list):
        return None
    items = {item for item in map(parse_item, entries[:MAX_WATCHED]) if item}
    return items


def parse_item(entry: object) -> Item | None:
    if not isinstance(entry, str):
        return None
    kind, _, key = entry.partition(":")
    spec = KINDS.get(kind)
    if spec is None or not key or len(key) > 64 or not key.isprintable():
        return None
    if spec.key == "queue" and not QUEUE_NAME_RE.fullmatch(key):
        return None
    if spec.key == "all" and key != "all":
        return None
    return kind, key
