"""Sharded queues: a hot queue stored as N sub-queues on different cluster slots.

With TASKQUEUE["SHARDS"] = {"emails": 4}, the queue `emails` lives in the sub-queues
`emails#0` .. `emails#3` (keys.py). A new task goes to the next sub-queue in turn, or,
when it carries an idempotency key, to the one that key hashes to (so the key is
checked where an earlier task with it would be). Workers claim from the sub-queues in
turn; reads add up or merge the sub-queues. Priority and FIFO order hold within each
sub-queue, not across them (docs/scaling.md). A queue not listed is one sub-queue of
its own name, with no overhead at all.
"""

import itertools
import zlib
from collections.abc import Iterable

from ..records import NewTask
from .keys import shard_names


class Shards:
    def __init__(self, counts: dict[str, int]):
        self.counts = {queue: n for queue, n in counts.items() if n > 1}
        self._names = {queue: shard_names(queue, n) for queue, n in self.counts.items()}
        self._turn = itertools.count()

    def __bool__(self) -> bool:
        return bool(self.counts)

    def of(self, queue: str) -> list[str]:
        """The storage names of a queue: its sub-queues, or [queue] itself."""
        return self._names.get(queue) or [queue]

    def expand(self, queues: Iterable[str]) -> list[str]:
        return [name for queue in queues for name in self.of(queue)]

    def is_sharded(self, queue: str) -> bool:
        return queue in self.counts

    def place(self, task: NewTask) -> str:
        """The sub-queue a new task is stored in."""
        names = self._names.get(task.queue)
        if names is None:
            return task.queue
        if task.idempotency_key:
            return names[zlib.crc32(task.idempotency_key.encode()) % len(names)]
        return names[next(self._turn) % len(names)]

    def claim_order(self, queues: Iterable[str]) -> list[str]:
        """The storage names to claim from: each sharded queue's sub-queues starting at
        the next one in turn, so every sub-queue gets its share of claims."""
        order = []
        for queue in queues:
            names = self.of(queue)
            start = next(self._turn) % len(names)
            order += names[start:] + names[:start]
        return order
