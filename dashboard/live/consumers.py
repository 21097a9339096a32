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

Who is on the other end is checked again every RECHECK_S, and at once when an access
change is sent to the user's group in the channel layer (access_changes.py: a logout,
a deactivation, a permission or group removed, in any web process).

A user limited to queues (access.py: queue_scope) may watch only those queues' elements
and tasks; a watch of anything else (another queue, its tasks, what spans every queue,
a workflow) is refused: left out of the watch list. The re-check narrows the list when
the user's queues change.
"""

import asyncio
import json
import logging
import time

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.contrib.auth import get_user_model

from taskqueue.conf import QUEUE_NAME_RE
from taskqueue.errors import TaskDoesNotExist

from ..access import EVERY_QUEUE, QueueScope, can_operate, can_view, queue_scope
from ..fragments import KINDS
from .access_changes import session_digest, user_group
from .relay import MAX_WATCHED, RELAY, Item, Subscriber

log = logging.getLogger(__name__)

MAX_MESSAGE = 64 * 1024  # characters; MAX_WATCHED watches of the longest kind need ~45,000
RECHECK_S = 5.0  # how often an open socket re-checks its session and permissions
GROUP_REFRESH_S = 3600.0  # rejoin the user's group: channels-redis forgets it after a day
LAYER_TIMEOUT_S = 2.0  # joining or leaving the group waits no longer
CLOSE_FORBIDDEN = 4403
CLOSE_ERROR = 1011  # the re-check itself failed: closed rather than left unchecked


class ConsoleConsumer(AsyncWebsocketConsumer):
    subscriber: Subscriber | None = None
    recheck: asyncio.Task | None = None
    group: str | None = None  # the user's group in the channel layer, while joined
    session_mark: str | None = None  # what a logout of this socket's session says
    queues: QueueScope = EVERY_QUEUE  # what the user may watch

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.release()
            await self.leave_group()

    async def connect(self) -> None:
        user = self.scope.get("user")
        allowed, operate = await database_sync_to_async(roles)(user)
        if not allowed:
            await self.close()  # before accept: the handshake is refused (HTTP 403)
            return
        self.queues = await database_sync_to_async(queue_scope)(user)
        await self.join_group(user_group(user.pk))  # before accept: no change is missed
        self.session_mark = session_digest(self.scope["session"].session_key)
        await self.accept()
        loop = asyncio.get_running_loop()
        self.subscriber = Subscriber(deliver=self.threadsafe_sender(loop), can_operate=operate)
        RELAY.add(self.subscriber)
        self.recheck = asyncio.create_task(self._recheck())

    async def _recheck(self) -> None:
        """The backstop of the pushed access changes (a change the channel layer could
        not carry is noticed here within RECHECK_S), and the group's upkeep."""
        joined = time.monotonic()
        while self.subscriber is not None:
            await asyncio.sleep(RECHECK_S)
            await self.check_access()
            if self.group is not None and time.monotonic() - joined > GROUP_REFRESH_S:
                await self.join_group(self.group)
                joined = time.monotonic()

    async def access_changed(self, message: dict) -> None:
        """`access.changed`, sent to the user's group (access_changes.py): the session
        this socket belongs to was logged out, or the user's access may have changed."""
        if self.subscriber is None:  # the socket has ended already
            return
        ended = message.get("session")
        if ended is not None and ended == self.session_mark:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        await self.check_access()

    async def check_access(self) -> None:
        """Logged out, deactivated or stripped of the console permission: the socket
        closes, and an operator demoted to viewer loses its buttons. A check that fails
        closes the socket too: it must not stay open unchecked."""
        try:
            allowed, operate = await database_sync_to_async(current_roles)(self.scope)
        except Exception:
            log.warning("console socket: access re-check failed; closing", exc_info=True)
            await self.end(CLOSE_ERROR)
            return
        if not allowed:
            await self.end(CLOSE_FORBIDDEN)
        elif self.subscriber is not None:
            self.subscriber.can_operate = operate
            await self.narrow(await database_sync_to_async(current_queues)(self.scope))

    async def narrow(self, queues: QueueScope) -> None:
        """Keep only the watches the user's queues (now `queues`) allow."""
        changed, self.queues = queues != self.queues, queues
        if changed and self.subscriber is not None:
            await self.watch(set(self.subscriber.watched))

    async def watch(self, items: set[Item]) -> None:
        allowed = await database_sync_to_async(visible_items)(items, self.queues)
        if self.subscriber is not None:
            RELAY.watch(self.subscriber, allowed)

    async def end(self, code: int) -> None:
        """Close, unless the socket has ended already (the periodic check and a pushed
        one may both find the access gone)."""
        if self.subscriber is not None:
            await self.close(code=code)

    async def join_group(self, group: str) -> None:
        """Without the layer the socket still works: the periodic re-check remains."""
        if self.channel_layer is None:
            return
        try:
            async with asyncio.timeout(LAYER_TIMEOUT_S):
                await self.channel_layer.group_add(group, self.channel_name)
        except Exception:
            log.warning("console socket: could not join %s; access changes reach it "
                        "within %s s only", group, RECHECK_S, exc_info=True)  # fmt: skip
            return
        self.group = group

    async def leave_group(self) -> None:
        """Idempotent; a group left behind (the layer unreachable) only costs a message
        to a channel no one reads, until channels-redis expires it."""
        group, self.group = self.group, None
        if group is None:
            return
        try:
            async with asyncio.timeout(LAYER_TIMEOUT_S):
                await self.channel_layer.group_discard(group, self.channel_name)
        except Exception:
            log.warning("console socket: could not leave %s", group, exc_info=True)

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
            await self.watch(items)

    async def close(self, code=None, reason=None) -> None:
        """Closing from our side ends the socket now: its watches and its group go at
        once (the browser's answer, and with it disconnect(), may never come)."""
        try:
            await super().close(code, reason)
        finally:
            self.release()
            await self.leave_group()

    async def disconnect(self, code: int) -> None:
        self.release()
        await self.leave_group()

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


def current_queues(scope) -> QueueScope:
    """The queues the socket's user may see now (read afresh: groups change)."""
    user = scope.get("user")
    fresh = get_user_model()._default_manager.filter(pk=getattr(user, "pk", None)).first()
    return queue_scope(fresh) if fresh is not None else QueueScope(frozenset())


def visible_items(items: set[Item], queues: QueueScope) -> set[Item]:
    """The items a user with `queues` may watch: for a limited user, the elements of
    its queues and of their tasks (one read per task), nothing else."""
    if not queues.limited:
        return items
    return {item for item in items if _visible(item, queues)}


def _visible(item: Item, queues: QueueScope) -> bool:
    kind, key = item
    what = KINDS[kind].key
    if what == "queue":
        return queues.can_see(key)
    if what == "task":
        try:
            queues.task(key)
        except TaskDoesNotExist:
            return False
        return True
    return False  # "all" (totals, workers, DLQ groups) and workflows span every queue


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
