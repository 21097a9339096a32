"""Concurrent enqueues from one process share script calls (group commit).

A lone caller sends its tasks at once, as if this module were not there. When callers
overlap (the threads of a web server, sync_to_async from async views), those that
arrive while a call is in flight wait for it to return; then the first of them sends
everything that waited in ONE call (enqueue_many's), hands the lead on to whoever
arrived meanwhile, and each caller gets its own replies. One round trip and one script
call then serve many callers, which is what bounds a busy producer (docs/PERFORMANCE.md).

Semantics do not change: a caller's tasks go in one call, whole, as before (never split
across calls). When a shared call fails (Redis unreachable, a tenant over its quota),
each of its callers sends its own tasks again, alone, and gets its own answer; task ids
are fixed before sending, so a task the failed call did create is found, not doubled.
"""

import os
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any


class _Slot:
    __slots__ = ("alone", "error", "event", "lead", "replies", "tasks")

    def __init__(self, tasks: Sequence[Any]):
        self.tasks = tasks
        self.event = threading.Event()
        self.lead = False  # woken to send the next shared call
        self.replies: list | None = None
        self.alone = False  # the shared call failed: send again, alone
        self.error: BaseException | None = None


class Coalescer:
    def __init__(self, send: Callable[[list], list]):
        self._send = send
        self._lock = threading.Lock()
        self._waiting: list[_Slot] = []
        self._busy = False

    def enqueue(self, tasks: Sequence[Any]) -> list:
        with self._lock:
            slot = None
            if self._busy:
                slot = _Slot(tasks)
                self._waiting.append(slot)
            self._busy = True
        if slot is None:  # nobody in flight: send at once, as without this module
            try:
                return self._send(tasks)
            finally:
                self._hand_on()
        slot.event.wait()
        if slot.lead:
            self._send_waiting()
        if slot.alone:
            return self._send(slot.tasks)
        if slot.error is not None:
            raise slot.error
        return slot.replies

    def _send_waiting(self) -> None:
        """Send every waiting caller's tasks in one call (this caller's are first)."""
        with self._lock:
            batch, self._waiting = self._waiting, []
        try:
            replies = self._send([t for s in batch for t in s.tasks])
        except BaseException as exc:  # whatever it is, the others must be woken below
            for s in batch:
                s.alone = True
            if len(batch) == 1 or not isinstance(exc, Exception):
                batch[0].alone, batch[0].error = False, exc  # the sender's own (batch[0])
        else:
            at = 0
            for s in batch:
                s.replies, at = replies[at : at + len(s.tasks)], at + len(s.tasks)
        self._hand_on()
        for s in batch:
            s.event.set()

    def _hand_on(self) -> None:
        """After a call: the first caller that came meanwhile sends the next one."""
        with self._lock:
            if self._waiting:
                self._waiting[0].lead = True
                self._waiting[0].event.set()
            else:
                self._busy = False


_lock = threading.Lock()
_coalescers: "weakref.WeakKeyDictionary[Any, tuple[int, Coalescer]]" = weakref.WeakKeyDictionary()


def coalescer(broker) -> Coalescer:
    """The coalescer of this broker in this process (a forked child makes its own: a
    lock held across fork() would never be released there)."""
    found = _coalescers.get(broker)
    if found is None or found[0] != os.getpid():
        with _lock:
            found = _coalescers.get(broker)
            if found is None or found[0] != os.getpid():
                ref = weakref.ref(broker)  # the entry must not keep its broker alive
                send = lambda tasks: ref().enqueue(tasks)  # noqa: E731 - patched brokers too
                found = _coalescers[broker] = (os.getpid(), Coalescer(send))
    return found[1]
