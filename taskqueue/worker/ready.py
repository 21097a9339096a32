"""The tasks a worker claimed ahead of its free slots (prefetch), in the order they start.

Redis hands out a queue's tasks by priority and, in a queue with tenants, in fair turns
(common.lua's next_seq). But a worker claims ahead of its free slots, so a task claimed
later may deserve to start before tasks already waiting here: one of a higher priority,
or the first task of a tenant whose turn has come while a flooding tenant's tasks fill
the buffer. Behind 100,000 tasks of one tenant, a first-come buffer made another
tenant's tasks wait for the whole buffer (docs/PERFORMANCE.md#fair-share-behind-a-flood).

The buffer keeps, for what it holds, the order Redis would have given it:
- between queues (and sub-queues), as claimed: the worker's queue order decides;
- within one queue, the lowest band (highest priority) first, then the tenants in turns
  (start-time fair queuing: a tenant's next task goes at max(clock, its last turn) + 1,
  the clock being the turn of the task started last), then as claimed. A queue without
  tenants is one lane: as claimed within each priority.

Each task held adds its queue to a line of turns; a turn of queue q starts q's best
task, which need not be the task that added that turn.
"""

import collections
import heapq
import itertools

from .runner import Running


class ReadyLine:
    """A deque's append / popleft / len / clear, in the order above."""

    def __init__(self) -> None:
        self._turns: collections.deque[str] = collections.deque()  # a queue per task held
        self._queues: dict[str, _QueueLine] = {}

    def __len__(self) -> int:
        return len(self._turns)

    def append(self, running: Running) -> None:
        queue = running.claimed.queue
        line = self._queues.get(queue)
        if line is None:
            line = self._queues[queue] = _QueueLine()
        line.push(running)
        self._turns.append(queue)

    def popleft(self) -> Running:
        queue = self._turns.popleft()  # IndexError when empty, as a deque's
        line = self._queues[queue]
        running = line.pop()
        if not line.heap:
            del self._queues[queue]
        return running

    def clear(self) -> None:
        self._turns.clear()
        self._queues.clear()


class _QueueLine:
    __slots__ = ("clock", "heap", "last", "order")

    def __init__(self) -> None:
        self.heap: list[tuple[int, int, int, Running]] = []
        self.clock = 0  # the turn of the task started last
        self.last: dict[str, int] = {}  # each tenant's last turn
        self.order = itertools.count()  # as claimed: breaks ties

    def push(self, running: Running) -> None:
        c = running.claimed
        turn = max(self.clock, self.last.get(c.tenant, 0)) + 1
        self.last[c.tenant] = turn
        heapq.heappush(self.heap, (c.band, turn, next(self.order), running))

    def pop(self) -> Running:
        _, turn, _, running = heapq.heappop(self.heap)
        self.clock = max(self.clock, turn)
        if len(self.last) > 4 * len(self.heap) + 64:  # tenants whose turns are past
            self.last = {t: n for t, n in self.last.items() if n > self.clock}
        return running
