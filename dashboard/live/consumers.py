"""The console's WebSocket: `/ws/dashboard/`. The page says which live elements it
shows; the relay pushes their HTML when they change. Nothing is accepted from the
browser but that list."""

import asyncio
import json

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from taskqueue.conf import QUEUE_NAME_RE

from ..access import can_operate, can_view
from ..fragments import KINDS
from .relay import RELAY, Item, Subscriber

MAX_WATCHED = 500
MAX_MESSAGE = 64 * 1024
RECHECK_S = 5.0  # how often an open socket re-checks its session and permissions
CLOSE_FORBIDDEN = 4403


class ConsoleConsumer(AsyncWebsocketConsumer):
    subscriber: Subscriber | None = None
    recheck: asyncio.Task | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        allowed, operate = await database_sync_to_async(roles)(user)
        if not allowed:
            await self.close()  # before accept: the handshake is refused (HTTP 403)
            return
        loop = asyncio.get_running_loop()
        self.subscriber = Subscriber(deliver=self.threadsafe_sender(loop), can_operate=operate)
        await self.accept()
        RELAY.add(self.subscriber)
        self.recheck = asyncio.create_task(self._recheck())

    async def _recheck(self) -> None:
        """Logged out, deactivated or stripped of the console permission: the socket
        closes within RECHECK_S, and an operator demoted to viewer loses its buttons."""
        while True:
            await asyncio.sleep(RECHECK_S)
            allowed, operate = await database_sync_to_async(current_roles)(self.scope)
            if not allowed:
                await self.close(code=CLOSE_FORBIDDEN)
                return
            self.subscriber.can_operate = operate

    def threadsafe_sender(self, loop: asyncio.AbstractEventLoop):
        def deliver(html: str) -> None:
            asyncio.run_coroutine_threadsafe(self.send(text_data=html), loop)

        return deliver

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None):
        items = parse_watch(text_data)
        if self.subscriber is not None and items is not None:
            RELAY.watch(self.subscriber, items)

    async def disconnect(self, code: int) -> None:
        if self.recheck is not None:
            self.recheck.cancel()
        if self.subscriber is not None:
            RELAY.remove(self.subscriber)


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
    fresh = type(user)._default_manager.filter(pk=user.pk).first()
    return roles(fresh) if fresh is not None and fresh.is_active else (False, False)


def parse_watch(text: str | None) -> set[Item] | None:
    """{"watch": ["queue-card:default", "task-row:<id>", ...]} -> the valid items."""
    if not text or len(text) > MAX_MESSAGE:
        return None
    try:
        message = json.loads(text)
    except ValueError:
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
