"""Every operation that changes Redis, declared once.

Each `@operation` is a function that does no I/O: it builds a ScriptCall (script,
KEYS, ARGV, a parser into outcomes.py's types), a Commands, or a plan that yields
those (requests.py). The sync broker (redis_broker.py) and the async one the worker
uses (async_broker.py) both inherit this class; on the first `broker.claim(...)`
returns the outcome, on the second `await broker.claim(...)`. `broker.claim.call(...)`
builds the ScriptCall alone, to send several in one round trip (`run_many`).

`now` is epoch milliseconds for tests; None lets the scripts read Redis's clock.

Queue names: operator actions take a queue's name and find, for a sharded queue
(shards.py), the sub-queue each task lives in. The worker's operations (claim,
complete, fail, renew, release, reap, promote, trim) take the storage name it claimed
from: a sub-queue ('emails#2') or a queue that is not sharded.
"""

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence

from ..conf import Config
from ..priority import BAND_WIDTH
from ..records import NewTask, TaskError
from .codec import claimed_tasks, error_json, new_task_argv, runtime_increments
from .confirm_ops import ConfirmOperations
from .control_ops import ControlOperations
from .counters import BucketCounts
from .damage import QUARANTINE_TTL_S, Damage
from .global_ops import GlobalOperations
from .keys import Keys, logical_queue
from .limit_ops import LimitOperations
from .outcomes import (
    Ack,
    Cancel,
    Cancelled,
    Enqueued,
    Failed,
    Lease,
    Moved,
    Promoted,
    Reaped,
    Swept,
    Trimmed,
)
from .requests import Commands, Plan, ScriptCall, batch, commands, every, operation, script
from .shards import Shards
from .trace_ops import SPAN_NONE, TraceOperations, is_traceparent
from .workflow_ops import WorkflowOperations

log = logging.getLogger("taskqueue.broker")

PURGE_BATCH = 1000
TRIM_BATCH = 100  # finished records of each kind deleted per trim call
MAINTENANCE_BATCH = 100  # leases reaped, scheduled tasks promoted per call
REQUEUED, DELETED = ("dead", "cancelled"), ("completed", "dead", "cancelled")


class Operations(
    ConfirmOperations,
    WorkflowOperations,
    TraceOperations,
    LimitOperations,
    ControlOperations,
    GlobalOperations,
):
    """Mixed into both brokers, which set `config`, `keys` and `shards` and provide
    `perform(plan)`."""

    config: Config
    keys: Keys
    shards: Shards

    def __init__(self, config: Config):
        self.config = config
        self.keys = Keys(config.PREFIX)
        self.shards = Shards(config.SHARDS)
        self._registered: set[str] = set()  # queue names this process added to `queues`

    def _call(self, script_name, queue, kinds, args, parse=None, **extra) -> ScriptCall:
        q = self.keys.queue(queue)
        keys = [getattr(q, kind) for kind in kinds]
        return ScriptCall(
            script_name,
            keys,
            [q.base, *args],
            parse or _same,
            queue=queue,
            quarantine=self.quarantine.call,
            **extra,
        )

    # -- producing -------------------------------------------------------------------

    @operation
    def enqueue(self, tasks: Sequence[NewTask], *, now: int | None = None) -> Plan:
        """Create tasks (any queues) in one round trip (on a cluster, one request per
        queue): an Enqueued per task, in order."""
        by_queue: dict[str, list[NewTask]] = {}
        for t in tasks:
            by_queue.setdefault(self.shards.place(t), []).append(t)
        yield from self.register_queues.call({t.queue for t in tasks})
        calls = [self._enqueue_call(name, group, now) for name, group in by_queue.items()]
        replies = every((yield from batch(calls)))
        placed = {
            id(t): pair
            for group, reply in zip(by_queue.values(), replies, strict=True)
            for t, pair in zip(group, reply, strict=True)
        }
        return [placed[id(t)] for t in tasks]

    def _enqueue_call(self, queue: str, tasks: Sequence[NewTask], now) -> ScriptCall:
        return self._enqueue_argv_call(queue, [new_task_argv(t) for t in tasks], now)

    def _enqueue_argv_call(self, queue: str, tasks: Sequence[list], now) -> ScriptCall:
        """enqueue_tasks for tasks given as their values (codec.new_task_argv)."""
        cfg = self.config
        argv = [_now(now), logical_queue(queue), cfg.IDEMPOTENCY_TTL, cfg.WAKE_MAX]
        argv += [cfg.EVENTS_MAXLEN, BAND_WIDTH]
        for values in tasks:
            argv += values
        kinds = ("pending", "scheduled", "seq", "wake", "events", "stats", "index", "timer")
        kinds += ("waiting", "limits", "limitset", "active")
        return self._call("enqueue_tasks", queue, kinds, argv, _enqueued)

    @operation
    def register_queues(self, queues: Iterable[str]) -> Plan:
        """Add queue names to the set of known queues (once per process and queue)."""
        new = sorted(q for q in queues if q not in self._registered)
        if new:
            add = Commands(lambda pipe: pipe.sadd(self.keys.queues, *new))
            yield from self._global({self.keys.queues: "set"}, add)
            self._registered.update(new)

    # -- the worker's side -----------------------------------------------------------

    @operation
    def claim(
        self,
        queue: str,
        worker_id: str,
        count: int,
        *,
        lease_ms: int | None = None,
        now: int | None = None,
        suspects: str = "",
    ) -> ScriptCall:
        """Move up to `count` pending tasks into `active` under a lease: a Claim.
        `suspects`: '' takes tasks that lost a lease like any other; 'alone' takes one
        at the head of the line by itself; 'busy' leaves them for an idle worker."""
        lease = self.config.lease_ms if lease_ms is None else lease_ms
        argv = [_now(now), count, lease, worker_id, self.config.EVENTS_MAXLEN, suspects]
        argv.append(BAND_WIDTH)
        kinds = ("pending", "active", "paused", "events", "stats", "wake", "limits", "limitset")
        return self._call("claim_tasks", queue, kinds, argv, lambda r: claimed_tasks(queue, r))

    @operation
    def claimable(self, queue: str) -> ScriptCall:
        """Whether a claim could take a task from the queue now (read-only): its
        pending set exists, or a line of tasks a limit held back (`held:<scope>`,
        outside pending). False means a claim would take nothing."""
        kinds = ("pending", "limits", "limitset")
        return self._call("claimable", queue, kinds, [], lambda reply: reply == 1)

    @operation
    def complete(self, queue: str, done: Sequence[tuple], *, now: int | None = None) -> ScriptCall:
        """Record results, (id, attempt, result JSON) each: an Ack each. A fourth value,
        the attempt's span context (W3C traceparent, tracing on: tracing.end), is kept
        in the record for the spans of the workflow tasks that follow to link to
        (trace_ops.parent_spans); without any, the call is what it was before tracing."""
        argv = [_now(now), self.config.RESULT_TTL, self.config.EVENTS_MAXLEN]
        spans = []
        for task_id, attempt, result, *span in done:
            argv += [task_id, attempt, result]
            spans.append(span[0] if span and span[0] and is_traceparent(span[0]) else SPAN_NONE)
        if any(span != SPAN_NONE for span in spans):
            argv.append(" ".join(spans))
        kinds = ("active", "completed", "events", "stats", "index")
        return self._call("complete_tasks", queue, kinds, argv, _acks)

    @operation
    def fail(
        self,
        queue: str,
        task_id: str,
        attempt: int,
        *,
        retry_delay_ms: int | None,
        error: TaskError,
        now: int | None = None,
    ) -> ScriptCall:
        """Record a failed attempt: Failed.SCHEDULED (a retry after `retry_delay_ms`;
        None: no retry), DEAD or STALE."""
        cfg = self.config
        delay = -1 if retry_delay_ms is None else max(0, int(retry_delay_ms))
        argv = [_now(now), task_id, attempt, delay, *error, error_json(error)]
        argv += [cfg.DEAD_TTL, cfg.DEAD_MAX]
        argv.append(cfg.EVENTS_MAXLEN)
        kinds = ("active", "scheduled", "dead", "events", "stats", "errors", "index", "timer")
        return self._call("fail_task", queue, kinds, argv, Failed)

    @operation
    def renew(
        self,
        queue: str,
        held: Sequence[tuple],
        *,
        lease_ms: int | None = None,
        now: int | None = None,
    ) -> ScriptCall:
        """Extend leases, held = (id, attempt) or (id, attempt, progress JSON): a Lease
        each. Progress that changed is written and announced as an event."""
        lease = self.config.lease_ms if lease_ms is None else lease_ms
        argv = [_now(now), lease, self.config.EVENTS_MAXLEN]
        for task_id, attempt, *progress in held:
            argv += [task_id, attempt, progress[0] if progress else ""]
        parse = lambda reply: [Lease(r) for r in reply]  # noqa: E731
        return self._call("renew_leases", queue, ("active", "events"), argv, parse)

    @operation
    def release(
        self, queue: str, held: Sequence[tuple[str, int]], *, now: int | None = None
    ) -> ScriptCall:
        """Return held tasks to pending at their place in line (a graceful stop): an Ack
        each."""
        argv = [_now(now), self.config.EVENTS_MAXLEN, self.config.WAKE_MAX, BAND_WIDTH]
        for task_id, attempt in held:
            argv += [task_id, attempt]
        kinds = ("active", "pending", "events", "wake")
        return self._call("release_tasks", queue, kinds, argv, _acks)

    @operation
    def finish_cancelled(
        self, queue: str, task_id: str, attempt: int, *, now: int | None = None
    ) -> ScriptCall:
        """Record that a running task stopped because a cancel was requested: an Ack."""
        argv = [_now(now), task_id, attempt, self.config.RESULT_TTL, self.config.EVENTS_MAXLEN]
        kinds = ("active", "cancelled", "events", "stats", "index")
        return self._call("finish_cancelled", queue, kinds, argv, Ack)

    @operation
    def record_runtimes(
        self, queue: str, counts: Mapping[str, BucketCounts], *, now: int | None = None
    ) -> ScriptCall:
        """Add to the queue's runtime histograms, lifetime and this minute's and hour's:
        task name -> what its attempts added (runtime.BUCKETS)."""
        argv = [_now(now), *(value for pair in runtime_increments(counts) for value in pair)]
        return self._call("record_runtimes", queue, ("runtime",), argv)

    # -- maintenance (any number of workers may run these at once) -------------------

    @operation
    def reap(
        self, queue: str, *, limit: int = MAINTENANCE_BATCH, now: int | None = None
    ) -> ScriptCall:
        """Requeue (or dead-letter) tasks whose lease expired: Reaped."""
        cfg = self.config
        argv = [_now(now), limit, cfg.MAX_LEASE_LOSSES, cfg.DEAD_TTL, cfg.DEAD_MAX]
        argv += [cfg.EVENTS_MAXLEN, cfg.WAKE_MAX, BAND_WIDTH]
        kinds = ("active", "pending", "dead", "events", "stats", "errors", "wake", "index")
        return self._call("reap_leases", queue, kinds, argv, lambda r: Reaped(*r))

    @operation
    def promote(
        self, queue: str, *, limit: int = MAINTENANCE_BATCH, now: int | None = None
    ) -> ScriptCall:
        """Due scheduled tasks -> pending: Promoted."""
        argv = [_now(now), limit, self.config.WAKE_MAX, self.config.EVENTS_MAXLEN, BAND_WIDTH]
        kinds = ("scheduled", "pending", "seq", "wake", "events", "timer", "limits", "limitset")
        return self._call("promote_scheduled", queue, kinds, argv, _promoted)

    @operation
    def sweep(self, queues: Sequence[str], *, now: int | None = None) -> Plan[list[Swept]]:
        """Promote and reap every one of these queues in one round trip (a pipeline; on
        a cluster, at once): a Swept each. An idle worker sweeps every second, so a
        round trip per queue and call was most of what it cost."""
        calls = [
            call
            for queue in queues
            for call in (self.promote.call(queue, now=now), self.reap.call(queue, now=now))
        ]
        replies = yield from batch(calls)
        return [Swept(queue, replies[2 * i], replies[2 * i + 1]) for i, queue in enumerate(queues)]

    @operation
    def trim(self, queue: str, *, now: int | None = None) -> ScriptCall:
        """Delete finished records past RESULT_TTL / DEAD_TTL / DEAD_MAX (TRIM_BATCH of
        each at most): Trimmed."""
        cfg = self.config
        argv = [_now(now), cfg.RESULT_TTL, cfg.DEAD_TTL, cfg.DEAD_MAX, TRIM_BATCH]
        kinds = ("completed", "cancelled", "dead", "errors", "index", "stats")
        return self._call("trim_expired", queue, kinds, argv, lambda r: Trimmed(*r))

    # -- operator actions ------------------------------------------------------------

    @operation
    def cancel(self, queue: str, task_id: str, *, now: int | None = None) -> Plan:
        """Cancel a waiting task, or ask a running one to stop: Cancelled. The worker
        running it is woken (control_ops.py), so it hears the request within a second."""
        name = yield from self._home(queue, task_id)
        argv = [_now(now), task_id, self.config.RESULT_TTL, self.config.EVENTS_MAXLEN]
        kinds = ("pending", "scheduled", "cancelled", "events", "stats", "index", "waiting")
        call = self._call("cancel_task", name, kinds, argv, task_id=task_id, action="cancel")
        reply = yield from script(call)
        cancelled = Cancelled(Cancel(reply[0]), reply[1])
        holder = reply[2] if len(reply) > 2 else ""
        if cancelled.outcome is Cancel.REQUESTED and holder:
            yield from self.wake_worker.call(holder, "cancel")
        return cancelled

    @operation
    def run_now(self, queue: str, task_id: str, *, now: int | None = None) -> Plan:
        """Make a scheduled task due at once: its status now, 'pending' (InvalidTransition
        if it is not scheduled)."""
        name = yield from self._home(queue, task_id)
        argv = [_now(now), task_id, self.config.EVENTS_MAXLEN, self.config.WAKE_MAX, BAND_WIDTH]
        kinds = ("scheduled", "pending", "seq", "wake", "events")
        call = self._call("run_now", name, kinds, argv, task_id=task_id, action="run now")
        return (yield from script(call))

    @operation
    def requeue(
        self,
        queue: str,
        task_ids: Sequence[str],
        *,
        now: int | None = None,
        only: Sequence[str] = REQUEUED,
    ) -> Plan:
        """Send dead or cancelled tasks (of the statuses in `only`) back to pending: a
        Moved each."""
        cfg = self.config
        allowed = _statuses(only, REQUEUED)

        def call(name: str, ids: list[str]) -> ScriptCall:
            argv = [_now(now), cfg.EVENTS_MAXLEN, cfg.WAKE_MAX, BAND_WIDTH, ",".join(allowed)]
            kinds = ("pending", "dead", "cancelled", "seq", "errors", "events", "wake", "stats")
            return self._call("requeue_tasks", name, kinds, [*argv, *ids], _moved(allowed))

        return (yield from self._per_home(queue, task_ids, call))

    @operation
    def delete(self, queue: str, task_ids: Sequence[str], *, only: Sequence[str] = DELETED) -> Plan:
        """Delete finished tasks' records (of the statuses in `only`): a Moved each."""
        allowed = _statuses(only, DELETED)

        def call(name: str, ids: list[str]) -> ScriptCall:
            kinds = ("completed", "dead", "cancelled", "index", "errors", "events")
            argv = [self.config.EVENTS_MAXLEN, ",".join(allowed), *ids]
            return self._call("delete_tasks", name, kinds, argv, _moved(allowed))

        return (yield from self._per_home(queue, task_ids, call))

    @operation
    def purge_pending(self, queue: str, *, batch: int = PURGE_BATCH) -> Plan:
        """Delete every pending task of a queue, a batch per script call: how many."""
        purged = yield from self._purge(queue, "", batch)
        return purged.deleted

    @operation
    def set_paused(self, queue: str, paused: bool) -> Plan:
        """Pause or resume a queue: whether it was paused before."""
        yield from self.register_queues.call([queue])
        argv = ["1" if paused else "0", self.config.EVENTS_MAXLEN, self.config.WAKE_MAX]
        kinds = ("paused", "events", "wake", "pending")
        before = False
        for name in self.shards.of(queue):
            before |= yield from script(
                self._call("set_paused", name, kinds, argv, lambda r: r == 1)
            )
        return before

    # -- keys of the wrong type (damage.py) --------------------------------------------

    @operation
    def quarantine(self, queue: str, damage: Sequence[Damage]) -> ScriptCall:
        """Move keys of the wrong type aside: (key, type it had, key it was moved to) per
        key moved, flat."""
        q = self.keys.queue(queue)
        argv = ["", self.config.EVENTS_MAXLEN, QUARANTINE_TTL_S, *(d.expected for d in damage)]
        keys = [q.stats, q.events, *(d.key for d in damage)]
        return ScriptCall("quarantine_keys", keys, [q.base, *argv], queue=queue, heals=False)

    # -- finding a task's sub-queue ----------------------------------------------------

    def _home(self, queue: str, task_id: str) -> Plan[str]:
        """The storage name of a task's queue: the sub-queue holding it, for a sharded
        queue (the first when none does: its script then answers 'not found')."""
        if not self.shards.is_sharded(queue):
            return queue
        return (yield from self._homes(queue, [task_id]))[task_id]

    def _homes(self, queue: str, task_ids: Sequence[str]) -> Plan[dict[str, str]]:
        """task id -> storage name, probing the sub-queues in one round trip."""
        names = self.shards.of(queue)

        def queue_exists(pipe) -> None:
            for task_id in task_ids:
                for name in names:
                    pipe.exists(self.keys.queue(name).task(task_id))

        found = yield from commands(Commands(queue_exists))
        n = len(names)
        return {
            task_id: next((names[j] for j in range(n) if found[i * n + j]), names[0])
            for i, task_id in enumerate(task_ids)
        }

    def _per_home(self, queue: str, task_ids: Sequence[str], build: Callable) -> Plan[list]:
        """The script `build(storage name, ids)` for each sub-queue holding some of the
        tasks; the answers in the order of task_ids."""
        if not task_ids:
            return []
        if not self.shards.is_sharded(queue):
            return (yield from script(build(queue, list(task_ids))))
        groups: dict[str, list[str]] = {}
        for task_id, name in (yield from self._homes(queue, task_ids)).items():
            groups.setdefault(name, []).append(task_id)
        answers = {}
        for name, ids in groups.items():
            answers.update(zip(ids, (yield from script(build(name, ids))), strict=True))
        return [answers[task_id] for task_id in task_ids]


def _same(reply):
    return reply


def _now(now: int | None) -> int | str:
    return "" if now is None else now


def _acks(reply: list) -> list[Ack]:
    return [Ack(r) for r in reply]


def _enqueued(reply: list) -> list[Enqueued]:
    return [Enqueued(reply[i], reply[i + 1] == 1) for i in range(0, len(reply), 2)]


def _moved(allowed: tuple[str, ...]) -> Callable[[list], list[Moved]]:
    return lambda reply: [Moved(status, status in allowed) for status in reply]


def _statuses(only: Sequence[str], possible: tuple[str, ...]) -> tuple[str, ...]:
    allowed = tuple(status for status in possible if status in only)
    if not allowed or len(allowed) != len(set(only)):
        raise ValueError(f"only: some of {', '.join(possible)}, not {only!r}")
    return allowed


def _promoted(reply: list) -> Promoted:
    promoted, next_due, now = reply
    return Promoted(promoted, None if next_due < 0 else next_due, now)
