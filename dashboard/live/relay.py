"""The relay: one thread per web process that follows the queues' event streams and
pushes re-rendered fragments to this process's WebSocket connections.

- One reader per process, however many connections: the events are read once
  (inspect.follow_events, an XREAD over every queue's stream) and fanned out in
  memory to the connections registered here. Nothing goes through the channel
  layer, so adding web processes does not multiply messages.
- Coalescing: events only mark elements dirty; a push happens at most once per
  PUSH_INTERVAL, carrying every dirty element a connection watches (in one message,
  or two when table rows are among them). However busy the queues, a page gets at
  most 2 / PUSH_INTERVAL messages a second.
- Each fragment is rendered once per push (shared by every connection that watches
  it) and sent to a connection only when its HTML differs from what it last got.
- A connection holds at most MAX_WATCHED elements, however many watch lists it
  sends; one that is removed holds nothing (and a late watch list adds nothing).
- The thread starts with the first connection and ends soon after the last one.
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from taskqueue import inspect
from taskqueue.errors import TaskQueueError

from ..fragments import KINDS, render_fragment

log = logging.getLogger(__name__)

PUSH_INTERVAL = 0.5  # seconds between two pushes to a page, at most
REFRESH_INTERVAL = 3.0  # seconds between refreshes of time-dependent elements
READ_BLOCK = 0.5  # seconds one read of the event streams waits, at most
RETRY_PAUSE = 1.0  # seconds to wait after Redis failed
MAX_WATCHED = 500  # live elements one connection may watch (a console page shows ~60)

Item = tuple[str, str]  # (kind, key) of a live element, e.g. ("queue-card", "default")


@dataclass(eq=False)
class Subscriber:
    """One WebSocket connection as the relay sees it. `deliver` must be thread-safe."""

    deliver: Callable[[str], None]
    can_operate: bool
    watched: set[Item] = field(default_factory=set)
    fresh: set[Item] = field(default_factory=set)  # newly watched: render at next push
    sent: dict[Item, int] = field(default_factory=dict)  # item -> hash of the last HTML


@dataclass
class Changes:
    """What the events since the last push touched."""

    queues: set[str] = field(default_factory=set)
    tasks: set[str] = field(default_factory=set)
    queue_event: bool = False  # a purge or a pause: re-render everything watched

    def add(self, events: list[inspect.QueueEvent]) -> None:
        for event in events:
            self.queues.add(event.queue)
            if event.task_id:
                self.tasks.add(event.task_id)
            if event.event:
                self.queue_event = True

    def __bool__(self) -> bool:
        return bool(self.queues)

    def touches(self, item: Item) -> bool:
        kind = KINDS[item[0]]
        if self.queue_event or (kind.on_any_event and self.queues):
            return True
        own = self.queues if kind.key == "queue" else self.tasks if kind.key == "task" else ()
        return kind.on_own_event and item[1] in own


class Relay:
    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._lock = threading.Lock()
        self._subscribers: list[Subscriber] = []
        self._thread: threading.Thread | None = None
        self._cursors: dict[str, str] = {}
        self._changes = Changes()
        self._last_push = float("-inf")
        self._last_refresh = clock()

    # -- registry (called from the connections' event loop) --------------------------

    def add(self, subscriber: Subscriber) -> None:
        with self._lock:
            self._subscribers.append(subscriber)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="console-relay", daemon=True)
                self._thread.start()

    def remove(self, subscriber: Subscriber) -> None:
        with self._lock:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)
            subscriber.watched, subscriber.fresh, subscriber.sent = set(), set(), {}

    def watch(self, subscriber: Subscriber, items: set[Item]) -> None:
        """The page now shows exactly `items` (the first MAX_WATCHED of them, in sorted
        order); the new ones are sent at the next push. Nothing is kept of an earlier
        list that `items` leaves out."""
        items = set(sorted(items)[:MAX_WATCHED]) if len(items) > MAX_WATCHED else set(items)
        with self._lock:
            if subscriber not in self._subscribers:
                return  # removed (its socket ended): it holds nothing
            subscriber.fresh = (subscriber.fresh | (items - subscriber.watched)) & items
            subscriber.watched = items
            for gone in set(subscriber.sent) - items:
                del subscriber.sent[gone]

    def registered(self) -> list[Subscriber]:
        """The connections registered now (a snapshot)."""
        with self._lock:
            return list(self._subscribers)

    def join(self, timeout: float) -> bool:
        """Wait for the thread to end (it does once no connection is left)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self._thread is None

    # -- the thread -------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._subscribers:
                    self._thread = None
                    return
            try:
                self.step()
            except TaskQueueError as exc:
                log.warning("console relay: %s; retrying in %.0f s", exc, RETRY_PAUSE)
                time.sleep(RETRY_PAUSE)
            except Exception:
                log.exception("console relay step failed")
                time.sleep(RETRY_PAUSE)

    def step(self) -> int:
        """Read events (waiting at most until the next push is due), then push if due.
        Returns how many messages were delivered."""
        events, self._cursors = inspect.follow_events(self._cursors, block_ms=self._wait_ms())
        self._changes.add(events)
        now = self.clock()
        if now - self._last_push < PUSH_INTERVAL:
            return 0
        refresh = now - self._last_refresh >= REFRESH_INTERVAL
        if not (self._changes or refresh or self._any_fresh()):
            return 0
        changes, self._changes = self._changes, Changes()
        self._last_push = now
        if refresh:
            self._last_refresh = now
        return self.push(changes, refresh)

    def _wait_ms(self) -> int:
        now = self.clock()
        if self._changes or self._any_fresh():
            wait = self._last_push + PUSH_INTERVAL - now
        else:
            wait = min(READ_BLOCK, self._last_refresh + REFRESH_INTERVAL - now)
        return int(1000 * max(0.001, min(READ_BLOCK, wait)))

    def _any_fresh(self) -> bool:
        with self._lock:
            return any(s.fresh for s in self._subscribers)

    def push(self, changes: Changes, refresh: bool) -> int:
        rendered: dict[tuple[str, str, bool], str | None] = {}
        delivered = 0
        with self._lock:
            subscribers = list(self._subscribers)
        for sub in subscribers:
            for html in self._messages(sub, changes, refresh, rendered):
                try:
                    sub.deliver(html)
                    delivered += 1
                except Exception:  # the connection's loop is gone: forget it
                    log.debug("console relay: dropping a closed connection", exc_info=True)
                    self.remove(sub)
                    break
        return delivered

    def _messages(
        self, sub: Subscriber, changes: Changes, refresh: bool, rendered: dict
    ) -> list[str]:
        """At most two messages: table rows, and the rest. (A browser parses a <tr>
        that follows a <div> in one fragment as text, so rows go on their own.)"""
        with self._lock:
            fresh, sub.fresh = sub.fresh, set()
            due = [
                item
                for item in sub.watched
                if item in fresh or changes.touches(item) or (refresh and KINDS[item[0]].periodic)
            ]
        htmls = [(item, self._render(item, sub.can_operate, rendered)) for item in sorted(due)]
        rows, others = [], []
        with self._lock:
            for item, html in htmls:
                if html is not None and item in sub.watched and sub.sent.get(item) != hash(html):
                    sub.sent[item] = hash(html)
                    (rows if KINDS[item[0]].row else others).append(html)
        return [html for html in ("".join(others), "".join(rows)) if html]

    @staticmethod
    def _render(item: Item, can_operate: bool, rendered: dict) -> str | None:
        memo = (*item, can_operate)
        if memo not in rendered:
            try:
                rendered[memo] = render_fragment(*item, can_operate=can_operate)
            except TaskQueueError as exc:
                log.warning("console relay: cannot render %s:%s: %s", *item, exc)
                rendered[memo] = None
            except Exception:  # one element must not stop the push of every other
                log.exception("console relay: rendering %s:%s failed", *item)
                rendered[memo] = None
        return rendered[memo]


RELAY = Relay()
