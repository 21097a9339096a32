"""Bulk actions that act on exactly what the operator confirmed (docs/console.md#exact-
bulk-actions): the tasks shown are noted under a confirmation token, in the queue's own
slot (`<prefix>:{q}:confirm:<token>`, a ZSET, expiring after CONFIRM_TTL_MS); the
action then takes those ids, and no task that arrived since.

- A queue's pending tasks: snapshot_pending.lua copies the head of the line (at most
  CONFIRM_MAX ids per sub-queue, so one call stays short), and purge_pending.lua with
  the token deletes those still pending, a batch at a time, counting the others.
- A choice of dead letters (ids, or a filter the service resolves to ids): noted with
  ZADD under the queue's name, and taken back a batch at a time (ZPOPMIN: two actions
  on one token never take the same id).
"""

from collections.abc import Sequence

from .outcomes import Noted, Purged
from .requests import Commands, Plan, commands, operation, script

CONFIRM_TTL_MS = 10 * 60 * 1000  # how long the operator has to confirm
CONFIRM_MAX = 100_000  # pending ids noted per (sub-)queue: about 0.1 s of Redis's time
NOTE_BATCH = 1000  # ids per ZADD / ZPOPMIN


class ConfirmOperations:
    """Mixed into Operations (operations.py), which provides keys, shards, config and
    _call."""

    @operation
    def note_pending(
        self, queue: str, token: str, *, limit: int = CONFIRM_MAX, ttl_ms: int = CONFIRM_TTL_MS
    ) -> Plan:
        """Note the ids at the head of the queue's line under `token`: Noted."""
        noted = total = 0
        for name in self.shards.of(queue):
            key = self.keys.queue(name).confirmation(token)
            call = self._call("snapshot_pending", name, ("pending",), [limit, ttl_ms])
            call.keys.append(key)
            count, pending = yield from script(call)
            noted, total = noted + count, total + pending
        return Noted(noted, total)

    @operation
    def purge_confirmed(self, queue: str, token: str, *, batch: int = 1000) -> Plan:
        """Delete the tasks noted under `token` that are still pending: Purged."""
        return (yield from self._purge(queue, token, batch))

    def _purge(self, queue: str, token: str, batch: int) -> Plan[Purged]:
        deleted, gone = 0, {}
        for name in self.shards.of(queue):
            more = True
            while more:
                kinds = ("pending", "index", "events", "stats")
                argv = [batch, self.config.EVENTS_MAXLEN, token]
                n, more, *pairs = yield from script(self._call("purge_pending", name, kinds, argv))
                deleted += n
                for status, count in zip(pairs[::2], pairs[1::2], strict=True):
                    gone[status] = gone.get(status, 0) + count
        return Purged(deleted, gone)

    @operation
    def note_ids(
        self, queue: str, token: str, ids: Sequence[str], *, ttl_ms: int = CONFIRM_TTL_MS
    ) -> Commands:
        """Note these task ids of `queue` under `token` (nothing for no ids)."""
        key = self.keys.queue(queue).confirmation(token)

        def note(pipe) -> None:
            for start in range(0, len(ids), NOTE_BATCH):
                pipe.zadd(key, dict.fromkeys(ids[start : start + NOTE_BATCH], 0))
            if ids:
                pipe.pexpire(key, ttl_ms)

        return Commands(note)

    @operation
    def take_ids(self, queue: str, token: str, *, count: int = NOTE_BATCH) -> Commands:
        """Up to `count` of the ids noted under `token`, forgotten as they are taken."""
        key = self.keys.queue(queue).confirmation(token)
        return Commands(
            lambda pipe: pipe.zpopmin(key, count), lambda replies: [i for i, _ in replies[0]]
        )

    @operation
    def confirmed(self, queue: str, token: str) -> Plan:
        """How many ids are still noted under `token` for the queue (0: none, expired or
        taken)."""
        names = dict.fromkeys([queue, *self.shards.of(queue)])
        keys = [self.keys.queue(name).confirmation(token) for name in names]
        sizes = yield from commands(Commands(lambda pipe: [pipe.zcard(k) for k in keys]))
        return sum(sizes)
