"""RedisBroker: every state change of a task is one Lua script on one queue's keys.

This is the only class (with its siblings in this package) that knows Redis. It moves
tasks and answers questions about them; policy (when to retry, how long to back off)
belongs to the worker, and validation of user input to the callers above it.

Methods taking `now` accept epoch milliseconds for tests; by default the scripts read
Redis's clock, so clock skew between hosts cannot expire a lease early.

A script that meets a key of the wrong type changes nothing and reports it; `execute`
then moves that key aside and calls the script again (damage.py).

Queue names: operator actions and reads take a queue's name; for a sharded queue
(shards.py) they find the sub-queue each task lives in. The worker's methods (claim,
complete, fail, renew, release, reap, promote) take the storage name it claimed from:
a sub-queue ('emails#2') or a queue that is not sharded.
"""

import contextlib
import logging
from collections.abc import Callable, Iterable, Sequence

import redis
from redis.exceptions import ResponseError

from ..conf import Config
from ..errors import DamagedKey
from ..records import Claimed, NewTask
from .cluster import StreamReads, is_cluster
from .damage import HEAL_ROUNDS, damage_in, log_moved, log_moved_global, unhealed
from .errors import is_wrong_type, translating
from .keys import Keys
from .operations import PURGE_BATCH, Operations, ScriptCall
from .reads import BrokerReads
from .scripts import Scripts, translate
from .shards import Shards

log = logging.getLogger("taskqueue.broker")


class RedisBroker(BrokerReads):
    def __init__(self, client: redis.Redis, config: Config):
        self.client = client
        self.config = config
        self.keys = Keys(config.PREFIX)
        self.ops = Operations(self.keys, config)
        self.scripts = Scripts(client)
        self.shards = Shards(config.SHARDS)
        self.cluster = is_cluster(client)
        self.stream_reads = StreamReads(client) if self.cluster else None
        self._registered: set[str] = set()

    def execute(self, call: ScriptCall):
        """Run a script call; keys of the wrong type are moved aside and it runs again."""
        for _ in range(HEAL_ROUNDS):
            reply = self._run(call)
            damage = damage_in(reply)
            if damage is None:
                return call.parse(reply)
            if not call.heals:
                break
            log_moved(call.queue, self._run(self.ops.quarantine(call.queue, damage)))
        raise unhealed(damage)

    @translating
    def run(self, call: ScriptCall):
        """execute(call), Redis trouble as BrokerUnavailable."""
        return self.execute(call)

    def _run(self, call: ScriptCall):
        try:
            return self.scripts.run(call.script, call.keys, call.args)
        except ResponseError as exc:
            raise translate(exc, call.task_id, call.action) from None

    # -- producing -------------------------------------------------------------------

    @translating
    def enqueue(
        self, tasks: Sequence[NewTask], *, now: int | None = None
    ) -> list[tuple[str, bool]]:
        """Create tasks (any queues) in one round trip (on a cluster, one per queue);
        returns (id, created) per task."""
        by_queue: dict[str, list[NewTask]] = {}
        place = self.shards.place if self.shards else lambda t: t.queue
        for t in tasks:
            by_queue.setdefault(place(t), []).append(t)
        self.register_queues({t.queue for t in tasks} if self.shards else by_queue)
        calls = [self.ops.enqueue(queue, group, now) for queue, group in by_queue.items()]
        replies = self.execute_many(calls)
        placed = {
            id(t): pair
            for group, reply in zip(by_queue.values(), replies, strict=True)
            for t, pair in zip(group, reply, strict=True)
        }
        return [placed[id(t)] for t in tasks]

    def execute_many(self, calls: Sequence[ScriptCall]) -> list:
        """Several calls in one pipeline; on a cluster (no scripts in pipelines) one by one.
        A call that reported damage runs again on its own (`execute`); an error reply
        is raised once the other calls are settled."""
        if len(calls) == 1 or self.cluster:
            return [self.execute(call) for call in calls]
        with self.client.pipeline(transaction=False) as pipe:
            for call in calls:
                self.scripts.run(call.script, call.keys, call.args, pipe)
            replies = pipe.execute(raise_on_error=False)
        out = [self._settle(call, reply) for call, reply in zip(calls, replies, strict=True)]
        for call, reply in zip(calls, out, strict=True):
            if isinstance(reply, ResponseError):
                raise translate(reply, call.task_id, call.action)
        return out

    def _settle(self, call: ScriptCall, reply):
        if isinstance(reply, ResponseError):
            return reply
        return call.parse(reply) if damage_in(reply) is None else self.execute(call)

    def register_queues(self, queues: Iterable[str]) -> None:
        """Add queue names to the global set (once per process and queue)."""
        new = [q for q in queues if q not in self._registered]
        if new:
            add = lambda: self.client.sadd(self.keys.queues, *new)  # noqa: E731
            self.healing_global({self.keys.queues: "set"}, add)
            self._registered.update(new)

    # -- global keys of the wrong type (damage.py) -------------------------------------

    def healing_global(self, wanted: dict[str, str], command: Callable):
        """command(), and once more after moving aside those of `wanted`'s global keys
        (key -> the type it must have) that had the wrong type."""
        try:
            return command()
        except ResponseError as exc:
            if not is_wrong_type(exc):
                raise
        self.heal_global(wanted)
        return command()

    def heal_global(self, wanted: dict[str, str]) -> None:
        """Move aside those of `wanted`'s global keys that have the wrong type."""
        for key, expected in wanted.items():
            call = self.ops.quarantine_global(key, expected)
            if call is None:
                log.error("Redis key %r has the wrong type and cannot be moved aside", key)
                continue
            moved = self.execute(call)
            if moved is not None:
                log_moved_global(key, *moved)
                with contextlib.suppress(ResponseError):  # a damaged counter: still moved
                    self.client.incr(self.keys.quarantined)

    # -- the worker's side -----------------------------------------------------------

    @translating
    def claim(
        self,
        queue: str,
        worker_id: str,
        count: int,
        *,
        lease_ms: int | None = None,
        now: int | None = None,
        suspects: str = "",
    ) -> list[Claimed]:
        """Move up to `count` pending tasks of `queue` into active under a lease
        (`suspects`: see Operations.claim)."""
        return self.execute(self.ops.claim(queue, worker_id, count, lease_ms, now, suspects))

    @translating
    def complete(
        self, queue: str, done: Sequence[tuple[str, int, str]], *, now: int | None = None
    ) -> list[bool]:
        """Record results: (id, attempt, result JSON) each. False where the attempt is stale."""
        return self.execute(self.ops.complete(queue, done, now))

    @translating
    def fail(
        self,
        queue: str,
        task_id: str,
        attempt: int,
        *,
        retry_delay_ms: int | None,
        error_type: str,
        error_message: str,
        traceback: str,
        error_json: str,
        now: int | None = None,
    ) -> str:
        """Record a failed attempt: 'scheduled' (retry), 'dead', or 'stale' (refused)."""
        error = (error_type, error_message, traceback, error_json)
        return self.execute(self.ops.fail(queue, task_id, attempt, retry_delay_ms, error, now))

    @translating
    def renew(
        self,
        queue: str,
        held: Sequence[tuple],
        *,
        lease_ms: int | None = None,
        now: int | None = None,
    ) -> list[int]:
        """Extend leases. Per task: 1 renewed, 2 renewed + cancel requested, 0 lost."""
        return self.execute(self.ops.renew(queue, held, lease_ms, now))

    @translating
    def release(
        self, queue: str, held: Sequence[tuple[str, int]], *, now: int | None = None
    ) -> list[bool]:
        """Return held tasks to pending at their place in line (graceful shutdown)."""
        return self.execute(self.ops.release(queue, held, now))

    @translating
    def finish_cancelled(
        self, queue: str, task_id: str, attempt: int, *, now: int | None = None
    ) -> bool:
        """Record that a running task was stopped because a cancel was requested."""
        return self.execute(self.ops.finish_cancelled(queue, task_id, attempt, now))

    # -- maintenance (any number of workers may run these at once) -------------------

    @translating
    def reap(self, queue: str, *, limit: int = 100, now: int | None = None) -> tuple[int, int]:
        """Requeue (or dead-letter) tasks whose lease expired: (requeued, dead)."""
        return self.execute(self.ops.reap(queue, limit, now))

    @translating
    def promote(
        self, queue: str, *, limit: int = 100, now: int | None = None
    ) -> tuple[int, int | None, int]:
        """Due scheduled tasks -> pending: (promoted, next due ms or None, Redis now ms)."""
        return self.execute(self.ops.promote(queue, limit, now))

    @translating
    def trim(self, queue: str, *, now: int | None = None) -> tuple[int, int, int]:
        """Delete finished records past RESULT_TTL / DEAD_TTL / DEAD_MAX (100 of each at
        most): (completed, cancelled, dead) deleted."""
        return self.execute(self.ops.trim(queue, now))

    # -- operator actions ------------------------------------------------------------

    @translating
    def cancel(self, queue: str, task_id: str, *, now: int | None = None) -> tuple[str, str]:
        """Cancel a task: ('cancelled' | 'requested', status before)."""
        return self.execute(self.ops.cancel(self.home(queue, task_id), task_id, now))

    @translating
    def run_now(self, queue: str, task_id: str, *, now: int | None = None) -> str:
        """Make a scheduled task due at once."""
        return self.execute(self.ops.run_now(self.home(queue, task_id), task_id, now))

    @translating
    def requeue(self, queue: str, task_ids: Sequence[str], *, now: int | None = None) -> list[str]:
        """Send dead or cancelled tasks back to pending; returns each one's status before."""
        run = lambda name, ids: self.execute(self.ops.requeue(name, ids, now))  # noqa: E731
        return self.per_home(queue, task_ids, run) if task_ids else []

    @translating
    def delete(self, queue: str, task_ids: Sequence[str]) -> list[str]:
        """Delete finished tasks' records; returns each one's status before."""
        run = lambda name, ids: self.execute(self.ops.delete(name, ids))  # noqa: E731
        return self.per_home(queue, task_ids, run) if task_ids else []

    @translating
    def purge_pending(self, queue: str, *, batch: int = PURGE_BATCH) -> int:
        """Delete every pending task of a queue, a batch per script call. Returns the count."""
        total = 0
        for name in self.shards.of(queue):
            while True:
                n = self.execute(self.ops.purge_pending(name, batch))
                total += n
                if n < batch:
                    break
        return total

    @translating
    def set_paused(self, queue: str, paused: bool) -> bool:
        """Pause or resume a queue; returns whether it was paused before."""
        self.register_queues([queue])
        before = [self.execute(self.ops.set_paused(name, paused)) for name in self.shards.of(queue)]
        return any(before)

    @translating
    def oldest_pending_ms(self, queue: str) -> int | None:
        """Ready time (epoch ms) of the longest-waiting pending task, or None (also when
        pending has the wrong type: a read moves nothing aside, see reads.py)."""
        found = []
        for name in self.shards.of(queue):
            with contextlib.suppress(DamagedKey):
                found.append(self.execute(self.ops.oldest_pending(name)))
        return min((ms for ms in found if ms is not None), default=None)

    # -- finding a task's sub-queue ----------------------------------------------------

    def home(self, queue: str, task_id: str) -> str:
        """The storage name of a task's queue: the sub-queue holding it, for a sharded
        queue (the first when none does: its script then answers 'not found')."""
        return self.homes(queue, [task_id])[task_id] if self.shards.is_sharded(queue) else queue

    def homes(self, queue: str, task_ids: Sequence[str]) -> dict[str, str]:
        """task id -> storage name, probing a sharded queue's sub-queues in one pipeline."""
        names = self.shards.of(queue)
        if len(names) == 1:
            return dict.fromkeys(task_ids, queue)
        with self.client.pipeline(transaction=False) as pipe:
            for task_id in task_ids:
                for name in names:
                    pipe.exists(self.keys.queue(name).task(task_id))
            found = pipe.execute()
        n = len(names)
        return {
            task_id: next((names[j] for j in range(n) if found[i * n + j]), names[0])
            for i, task_id in enumerate(task_ids)
        }

    def per_home(self, queue: str, task_ids: Sequence[str], run: Callable) -> list:
        """run(storage name, ids) for each sub-queue holding some of the tasks; the
        answers in the order of task_ids."""
        if not self.shards.is_sharded(queue):
            return run(queue, list(task_ids))
        groups: dict[str, list[str]] = {}
        for task_id, name in self.homes(queue, task_ids).items():
            groups.setdefault(name, []).append(task_id)
        answers = {}
        for name, ids in groups.items():
            answers.update(zip(ids, run(name, ids), strict=True))
        return [answers[task_id] for task_id in task_ids]
