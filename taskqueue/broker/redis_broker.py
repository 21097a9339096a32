"""RedisBroker: every state change of a task is one Lua script on one queue's keys.

This is the only module (with keys.py and the scripts) that knows Redis. It moves
tasks and answers questions about them; policy (when to retry, how long to back off)
belongs to the worker, and validation of user input to the service layer.

Every method that takes `now` accepts epoch milliseconds for tests; by default the
scripts read Redis's clock, so clock skew between hosts cannot expire a lease early.
"""

import functools
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import redis
from redis.exceptions import ResponseError

from ..conf import Config
from ..errors import BrokerUnavailable, TaskDoesNotExist, ValidationError
from ..records import Claimed, NewTask, TaskRecord
from ..status import Status
from .keys import Keys, QueueKeys
from .scripts import Scripts, translate

# Status -> (set kind, newest first?) used to list the tasks in that status.
LISTINGS = {
    Status.PENDING: ("pending", False),
    Status.SCHEDULED: ("scheduled", False),
    Status.PROCESSING: ("active", False),
    Status.COMPLETED: ("completed", True),
    Status.DEAD: ("dead", True),
    Status.CANCELLED: ("cancelled", True),
    None: ("index", True),
}
PURGE_BATCH = 1000


@dataclass(frozen=True, slots=True)
class QueueCounts:
    queue: str
    pending: int
    scheduled: int
    processing: int
    completed: int
    dead: int
    cancelled: int
    paused: bool
    stats: dict[str, int]


@dataclass(frozen=True, slots=True)
class Page:
    items: list[TaskRecord]
    next_cursor: str | None


def _translating(method):
    """Redis connection trouble leaves the broker as BrokerUnavailable, nothing else."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise BrokerUnavailable(f"Redis is unavailable: {exc}") from None

    return wrapper


class RedisBroker:
    def __init__(self, client: redis.Redis, config: Config):
        self.client = client
        self.config = config
        self.keys = Keys(config.PREFIX)
        self.scripts = Scripts(client)
        self._registered: set[str] = set()

    def _run(self, name: str, q: QueueKeys, kinds: Sequence[str], args: list, client=None):
        return self.scripts.run(name, [getattr(q, k) for k in kinds], [q.base, *args], client)

    # -- producing -------------------------------------------------------------------

    @_translating
    def enqueue(
        self, tasks: Sequence[NewTask], *, now: int | None = None
    ) -> list[tuple[str, bool]]:
        """Create tasks (any queues) in one round trip; returns (id, created) per task."""
        by_queue: dict[str, list[NewTask]] = {}
        for t in tasks:
            by_queue.setdefault(t.queue, []).append(t)
        self._register_queues(by_queue)
        cfg = self.config
        with self.client.pipeline(transaction=False) as pipe:
            for queue, group in by_queue.items():
                argv = [_now(now), queue, cfg.IDEMPOTENCY_TTL, cfg.WAKE_MAX, cfg.EVENTS_MAXLEN]
                for t in group:
                    argv += t.argv()
                self._run(
                    "enqueue_tasks",
                    self.keys.queue(queue),
                    ("pending", "scheduled", "seq", "wake", "events", "stats", "index"),
                    argv,
                    pipe,
                )
            replies = pipe.execute()
        out = {}
        for group, reply in zip(by_queue.values(), replies, strict=True):
            for t, i in zip(group, range(0, len(reply), 2), strict=True):
                out[id(t)] = (reply[i], reply[i + 1] == 1)
        return [out[id(t)] for t in tasks]

    def _register_queues(self, queues: Iterable[str]) -> None:
        new = [q for q in queues if q not in self._registered]
        if new:
            self.client.sadd(self.keys.queues, *new)
            self._registered.update(new)

    # -- the worker's side -----------------------------------------------------------

    @_translating
    def claim(
        self,
        queue: str,
        worker_id: str,
        count: int,
        *,
        lease_ms: int | None = None,
        now: int | None = None,
    ) -> list[Claimed]:
        """Move up to `count` pending tasks of `queue` into active under a lease."""
        lease = lease_ms or self.config.lease_ms
        flat = self._run(
            "claim_tasks",
            self.keys.queue(queue),
            ("pending", "active", "paused", "events", "stats"),
            [_now(now), count, lease, worker_id, self.config.EVENTS_MAXLEN],
        )
        return [
            Claimed(
                id=flat[i],
                queue=queue,
                attempt=int(flat[i + 1]),
                name=flat[i + 2],
                args=flat[i + 3],
                kwargs=flat[i + 4],
                timeout=_opt_float(flat[i + 5]),
                failures=int(flat[i + 6] or 0),
                max_retries=int(flat[i + 7] or 0),
                meta=flat[i + 8],
            )
            for i in range(0, len(flat), 9)
        ]

    @_translating
    def complete(
        self, queue: str, done: Sequence[tuple[str, int, str]], *, now: int | None = None
    ) -> list[bool]:
        """Record results: (id, attempt, result JSON) each. False where the attempt is stale."""
        argv = [_now(now), self.config.RESULT_TTL, self.config.EVENTS_MAXLEN]
        for task_id, attempt, result in done:
            argv += [task_id, attempt, result]
        reply = self._run(
            "complete_tasks",
            self.keys.queue(queue),
            ("active", "completed", "events", "stats", "index"),
            argv,
        )
        return [r == 1 for r in reply]

    @_translating
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
        cfg = self.config
        delay = -1 if retry_delay_ms is None else max(0, int(retry_delay_ms))
        return self._run(
            "fail_task",
            self.keys.queue(queue),
            ("active", "scheduled", "dead", "events", "stats", "errors", "index"),
            [
                _now(now),
                task_id,
                attempt,
                delay,
                error_type,
                error_message,
                traceback,
                error_json,
                cfg.DEAD_TTL,
                cfg.DEAD_MAX,
                cfg.EVENTS_MAXLEN,
            ],
        )

    @_translating
    def renew(
        self,
        queue: str,
        held: Sequence[tuple[str, int]],
        *,
        lease_ms: int | None = None,
        now: int | None = None,
    ) -> list[int]:
        """Extend leases. Per task: 1 renewed, 2 renewed + cancel requested, 0 lost."""
        argv = [_now(now), lease_ms or self.config.lease_ms]
        for task_id, attempt in held:
            argv += [task_id, attempt]
        return self._run("renew_leases", self.keys.queue(queue), ("active",), argv)

    @_translating
    def release(
        self, queue: str, held: Sequence[tuple[str, int]], *, now: int | None = None
    ) -> list[bool]:
        """Return held tasks to pending at their place in line (graceful shutdown)."""
        argv = [_now(now), self.config.EVENTS_MAXLEN, self.config.WAKE_MAX]
        for task_id, attempt in held:
            argv += [task_id, attempt]
        reply = self._run(
            "release_tasks", self.keys.queue(queue), ("active", "pending", "events", "wake"), argv
        )
        return [r == 1 for r in reply]

    @_translating
    def finish_cancelled(
        self, queue: str, task_id: str, attempt: int, *, now: int | None = None
    ) -> bool:
        """Record that a running task was stopped because a cancel was requested."""
        reply = self._run(
            "finish_cancelled",
            self.keys.queue(queue),
            ("active", "cancelled", "events", "stats", "index"),
            [_now(now), task_id, attempt, self.config.RESULT_TTL, self.config.EVENTS_MAXLEN],
        )
        return reply == 1

    # -- maintenance (any number of workers may run these at once) -------------------

    @_translating
    def reap(self, queue: str, *, limit: int = 100, now: int | None = None) -> tuple[int, int]:
        """Requeue (or dead-letter) tasks whose lease expired: (requeued, dead)."""
        cfg = self.config
        requeued, dead = self._run(
            "reap_leases",
            self.keys.queue(queue),
            ("active", "pending", "dead", "events", "stats", "errors", "wake", "index"),
            [
                _now(now),
                limit,
                cfg.MAX_LEASE_LOSSES,
                cfg.DEAD_TTL,
                cfg.DEAD_MAX,
                cfg.EVENTS_MAXLEN,
                cfg.WAKE_MAX,
            ],
        )
        return requeued, dead

    @_translating
    def promote(
        self, queue: str, *, limit: int = 100, now: int | None = None
    ) -> tuple[int, int | None, int]:
        """Move due scheduled tasks to pending: (promoted, next due ms or None, Redis now ms)."""
        promoted, next_due, redis_now = self._run(
            "promote_scheduled",
            self.keys.queue(queue),
            ("scheduled", "pending", "seq", "wake", "events"),
            [_now(now), limit, self.config.WAKE_MAX, self.config.EVENTS_MAXLEN],
        )
        return promoted, (None if next_due < 0 else next_due), redis_now

    # -- operator actions ------------------------------------------------------------

    @_translating
    def cancel(self, queue: str, task_id: str, *, now: int | None = None) -> tuple[str, str]:
        """Cancel a task: ('cancelled' | 'requested', status before)."""
        try:
            outcome, before = self._run(
                "cancel_task",
                self.keys.queue(queue),
                ("pending", "scheduled", "cancelled", "events", "stats", "index"),
                [_now(now), task_id, self.config.RESULT_TTL, self.config.EVENTS_MAXLEN],
            )
        except ResponseError as exc:
            raise translate(exc, task_id, "cancel") from None
        return outcome, before

    @_translating
    def requeue(self, queue: str, task_ids: Sequence[str], *, now: int | None = None) -> list[str]:
        """Send dead or cancelled tasks back to pending; returns each one's status before."""
        if not task_ids:
            return []
        return self._run(
            "requeue_tasks",
            self.keys.queue(queue),
            ("pending", "dead", "cancelled", "seq", "errors", "events", "wake", "stats"),
            [_now(now), self.config.EVENTS_MAXLEN, self.config.WAKE_MAX, *task_ids],
        )

    @_translating
    def delete(self, queue: str, task_ids: Sequence[str]) -> list[str]:
        """Delete finished tasks' records; returns each one's status before."""
        if not task_ids:
            return []
        return self._run(
            "delete_tasks",
            self.keys.queue(queue),
            ("completed", "dead", "cancelled", "index", "errors", "events"),
            [self.config.EVENTS_MAXLEN, *task_ids],
        )

    @_translating
    def purge_pending(self, queue: str, *, batch: int = PURGE_BATCH) -> int:
        """Delete every pending task of a queue, a batch per script call. Returns the count."""
        total, q = 0, self.keys.queue(queue)
        while True:
            n = self._run(
                "purge_pending",
                q,
                ("pending", "index", "events", "stats"),
                [batch, self.config.EVENTS_MAXLEN],
            )
            total += n
            if n < batch:
                return total

    @_translating
    def set_paused(self, queue: str, paused: bool) -> bool:
        """Pause or resume a queue; returns whether it was paused before."""
        self._register_queues([queue])
        was = self._run(
            "set_paused",
            self.keys.queue(queue),
            ("paused", "events", "wake", "pending"),
            ["1" if paused else "0", self.config.EVENTS_MAXLEN, self.config.WAKE_MAX],
        )
        return was == 1

    # -- reading ---------------------------------------------------------------------

    @_translating
    def get(self, queue: str, task_id: str) -> TaskRecord | None:
        h = self.client.hgetall(self.keys.queue(queue).task(task_id))
        return TaskRecord.from_hash(h) if h else None

    @_translating
    def find(self, task_id: str) -> TaskRecord | None:
        """Look a task up by id alone: one pipeline over every known queue."""
        queues = self.known_queues()
        with self.client.pipeline(transaction=False) as pipe:
            for queue in queues:
                pipe.hgetall(self.keys.queue(queue).task(task_id))
            for h in pipe.execute():
                if h:
                    return TaskRecord.from_hash(h)
        return None

    @_translating
    def known_queues(self) -> list[str]:
        """Configured queues first (in order), then any other queue that was used."""
        seen = list(self.config.QUEUES)
        seen += sorted(set(self.client.smembers(self.keys.queues)) - set(seen))
        return seen

    @_translating
    def counts(self, queue: str) -> QueueCounts:
        """Tasks per status, paused flag and lifetime counters: O(1)."""
        q = self.keys.queue(queue)
        with self.client.pipeline(transaction=False) as pipe:
            for kind in ("pending", "scheduled", "active", "completed", "dead", "cancelled"):
                pipe.zcard(getattr(q, kind))
            pipe.exists(q.paused)
            pipe.hgetall(q.stats)
            *sizes, paused, stats = pipe.execute()
        return QueueCounts(
            queue, *sizes, paused=bool(paused), stats={k: int(v) for k, v in stats.items()}
        )

    @_translating
    def oldest_pending_ms(self, queue: str) -> int | None:
        """Ready time (epoch ms) of the longest-waiting pending task, or None."""
        oldest = self._run("oldest_pending", self.keys.queue(queue), ("pending",), [])
        return None if oldest < 0 else oldest

    @_translating
    def dead_errors(self, queue: str) -> dict[str, int]:
        """Dead-letter entries per exception type: O(1), kept by the scripts."""
        raw = self.client.hgetall(self.keys.queue(queue).errors)
        return {k: int(v) for k, v in raw.items() if int(v) > 0}

    @_translating
    def per_minute(
        self, queue: str, minutes: int, *, now_ms: int | None = None
    ) -> list[dict[str, int]]:
        """Completed/failed counts for each of the last `minutes` minutes, oldest first."""
        q = self.keys.queue(queue)
        current = (now_ms or self.time_ms()) // 60_000
        with self.client.pipeline(transaction=False) as pipe:
            for m in range(current - minutes + 1, current + 1):
                pipe.hgetall(q.minute(m))
            rows = pipe.execute()
        return [{k: int(v) for k, v in row.items()} for row in rows]

    @_translating
    def list_tasks(
        self,
        queue: str,
        status: Status | None = None,
        *,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page:
        """One page of a queue's tasks in a status (None: all, newest first)."""
        kind, newest_first = LISTINGS[status]
        key = getattr(self.keys.queue(queue), kind)
        entries = self._range_after(key, cursor, limit + 1, newest_first)
        more = len(entries) > limit
        entries = entries[:limit]
        records = self._records(queue, [member for member, _ in entries])
        next_cursor = _cursor(*entries[-1]) if more else None
        return Page([r for r in records if r is not None], next_cursor)

    def _range_after(self, key: str, cursor: str | None, count: int, newest_first: bool):
        """Up to `count` (member, score) after the cursor, in (score, member) order."""
        score, member = _parse_cursor(cursor)
        fetch = self.client.zrevrangebyscore if newest_first else self.client.zrangebyscore
        start, end = ("+inf", "-inf") if newest_first else ("-inf", "+inf")
        if score is not None:
            start = score
        out, offset = [], 0
        while len(out) < count:
            batch = fetch(key, start, end, start=offset, num=count, withscores=True)
            for m, s in batch:
                tie = score is not None and s == score
                if not tie or (m < member if newest_first else m > member):
                    out.append((m, s))
            if len(batch) < count:
                break
            offset += len(batch)
        return out[:count]

    def _records(self, queue: str, ids: Sequence[str]) -> list[TaskRecord | None]:
        q = self.keys.queue(queue)
        with self.client.pipeline(transaction=False) as pipe:
            for task_id in ids:
                pipe.hgetall(q.task(task_id))
            return [TaskRecord.from_hash(h) if h else None for h in pipe.execute()]

    @_translating
    def wait_finished(self, queue: str, task_id: str, timeout: float | None) -> TaskRecord | None:
        """Block until the task is terminal (or `timeout` s pass: None). No polling: it
        sleeps on the queue's event stream and re-reads the record only when an event
        names this task."""
        q = self.keys.queue(queue)
        deadline = None if timeout is None else time.monotonic() + timeout
        newest = self.client.xrevrange(q.events, count=1)
        last = newest[0][0] if newest else "0-0"
        while True:
            record = self.get(queue, task_id)
            if record is None:
                raise TaskDoesNotExist(task_id)
            if record.is_terminal:
                return record
            last = self._next_event_for(q, task_id, last, deadline)
            if last is None:
                return None

    def _next_event_for(self, q: QueueKeys, task_id: str, last: str, deadline: float | None):
        """Read events until one names the task, a second passes (so the caller re-reads
        the record even if the event was trimmed away) or the deadline: then None."""
        recheck = time.monotonic() + 1.0
        while True:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return None
            left = min(recheck, deadline or recheck) - now
            if left <= 0:
                return last
            reply = self.client.xread({q.events: last}, count=500, block=max(1, int(left * 1000)))
            for _, entries in reply:
                for entry_id, fields in entries:
                    last = entry_id
                    if fields.get("id") == task_id:
                        return last

    @_translating
    def time_ms(self) -> int:
        seconds, micros = self.client.time()
        return seconds * 1000 + micros // 1000


def _now(now: int | None) -> int | str:
    return "" if now is None else now


def _opt_float(value: str) -> float | None:
    return float(value) if value not in (None, "") else None


def _cursor(member: str, score: float) -> str:
    return f"{score!r}:{member}"


def _parse_cursor(cursor: str | None) -> tuple[float | None, str]:
    if not cursor:
        return None, ""
    score, _, member = cursor.partition(":")
    try:
        return float(score), member
    except ValueError:
        raise ValidationError(f"cursor {cursor!r} is not valid.", field="cursor") from None
