"""Reading a queue's state: records, counts, listings with cursors. No writes here, and
no KEYS or SCAN: counts are O(1) and listings paginate on the sets' scores.

A sharded queue (shards.py) reads as one: counts and statistics are added up over its
sub-queues, listings merge them in the sets' order, a task is looked for in each.
"""

import heapq
import itertools
import json
import math
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from .. import runtime
from ..errors import TaskDoesNotExist, ValidationError
from ..record_fields import LISTED, SHOWN, Shown
from ..records import TaskRecord
from ..runtime import Histogram
from ..status import Status
from ..workers import WorkerInfo
from .bounded import read_hashes
from .errors import translating
from .keys import QueueKeys, logical_queue

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


class BrokerReads:
    """Mixed into RedisBroker: needs self.client, self.keys, self.config, self.shards,
    self.stream_reads and self.home()."""

    @translating
    def get(self, queue: str, task_id: str) -> TaskRecord | None:
        """The record as stored (every field in full): the engine's own read."""
        if self.shards.is_sharded(queue):
            return self._first_record(self.shards.of(queue), task_id, None)
        h = self.client.hgetall(self.keys.queue(queue).task(task_id))
        return TaskRecord.from_hash(h, task_id=task_id, queue=queue) if h else None

    @translating
    def find(self, task_id: str, shown: Shown | None = SHOWN) -> TaskRecord | None:
        """Look a task up by id alone, in every known queue; read for people (see
        bounded.py) unless `shown` is None."""
        return self._first_record(self.shards.expand(self.known_queues()), task_id, shown)

    def _first_record(self, names: Sequence[str], task_id: str, shown) -> TaskRecord | None:
        hashes = self._hashes([self.keys.queue(name).task(task_id) for name in names], shown)
        for name, h in zip(names, hashes, strict=True):
            if h:
                return TaskRecord.from_hash(h, shown, task_id=task_id, queue=logical_queue(name))
        return None

    def _hashes(self, keys: Sequence[str], shown: Shown | None) -> list[dict]:
        if shown is not None:
            return read_hashes(self.client, keys, shown)
        with self.client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hgetall(key)
            return pipe.execute()

    @translating
    def known_queues(self) -> list[str]:
        """Configured queues first (in order), then any other queue that was used."""
        seen = list(self.config.QUEUES)
        return seen + sorted(set(self.client.smembers(self.keys.queues)) - set(seen))

    @translating
    def counts(self, queue: str) -> QueueCounts:
        """Tasks per status, paused flag and lifetime counters: O(1) (O(sub-queues))."""
        names = self.shards.of(queue)
        with self.client.pipeline(transaction=False) as pipe:
            for name in names:
                q = self.keys.queue(name)
                for kind in COUNTED:
                    pipe.zcard(getattr(q, kind))
                pipe.exists(q.paused)
                pipe.hgetall(q.stats)
            replies = pipe.execute()
        per = len(COUNTED) + 2
        rows = [replies[i : i + per] for i in range(0, len(replies), per)]
        sizes = [sum(row[k] for row in rows) for k in range(len(COUNTED))]
        paused = any(row[-2] for row in rows)
        return QueueCounts(queue, *sizes, paused=paused, stats=_summed(r[-1] for r in rows))

    @translating
    def dead_errors(self, queue: str) -> dict[str, int]:
        """Dead-letter entries per exception type: O(1), kept by the scripts."""
        raw = self._summed_hashes(queue, "errors")
        return {k: v for k, v in raw.items() if v > 0}

    def _summed_hashes(self, queue: str, kind: str) -> dict[str, int]:
        """A counter hash of a queue, added up over its sub-queues."""
        names = self.shards.of(queue)
        if len(names) == 1:
            return {
                k: int(v)
                for k, v in self.client.hgetall(getattr(self.keys.queue(queue), kind)).items()
            }
        with self.client.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.hgetall(getattr(self.keys.queue(name), kind))
            return _summed(pipe.execute())

    @translating
    def per_minute(self, queue: str, minutes: int, *, now_ms: int | None = None) -> list[dict]:
        """Completed/failed counts for each of the last `minutes` minutes, oldest first."""
        names = self.shards.of(queue)
        current = (now_ms or self.time_ms()) // 60_000
        with self.client.pipeline(transaction=False) as pipe:
            for m in range(current - minutes + 1, current + 1):
                for name in names:
                    pipe.hgetall(self.keys.queue(name).minute(m))
            rows = pipe.execute()
        n = len(names)
        return [_summed(rows[i : i + n]) for i in range(0, len(rows), n)]

    @translating
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
        merged = self.queue_entries(queue, kind, cursor, newest_first)
        entries = list(itertools.islice(merged, limit + 1))
        more = len(entries) > limit
        entries = entries[:limit]
        records = []
        for name, group in itertools.groupby(entries, key=lambda e: e[2]):
            records += self.records(name, [member for member, _, _ in group])
        next_cursor = make_cursor(*entries[-1][:2]) if more else None
        return Page([r for r in records if r is not None], next_cursor)

    def queue_entries(
        self, queue: str, kind: str, cursor: str | None, newest_first: bool, chunk: int = 200
    ) -> Iterator[tuple[str, float, str]]:
        """(member, score, storage name) of a queue's set `kind` after the cursor: the
        sub-queues' sets merged in (score, member) order for a sharded queue."""
        streams = [
            self._labelled(name, kind, cursor, newest_first, chunk)
            for name in self.shards.of(queue)
        ]
        if len(streams) == 1:
            return streams[0]
        order = lambda e: (e[1], e[0])  # noqa: E731
        return heapq.merge(*streams, key=order, reverse=newest_first)

    def _labelled(self, name: str, kind: str, cursor, newest_first: bool, chunk: int):
        key = getattr(self.keys.queue(name), kind)
        for member, score in self.iter_entries(key, cursor, newest_first, chunk):
            yield member, score, name

    def iter_entries(
        self, key: str, cursor: str | None, newest_first: bool, chunk: int = 200
    ) -> Iterator[tuple[str, float]]:
        """(member, score) of a sorted set strictly after the cursor, in (score, member)
        order (both descending when newest_first), fetched `chunk` at a time."""
        score, member = parse_cursor(cursor)
        fetch = self.client.zrevrangebyscore if newest_first else self.client.zrangebyscore
        end = "-inf" if newest_first else "+inf"
        while True:
            start = ("+inf" if newest_first else "-inf") if score is None else score
            offset, emitted = 0, False
            while True:
                batch = fetch(key, start, end, start=offset, num=chunk, withscores=True)
                for m, s in batch:
                    if score is None or s != score or (m < member if newest_first else m > member):
                        yield m, s
                        score, member, emitted = s, m, True
                if len(batch) < chunk or emitted:
                    break
                offset += len(batch)  # a run of ties longer than a chunk: skip past it
            if len(batch) < chunk:
                return

    @translating
    def fields(self, queue: str, ids: Sequence[str], names: Sequence[str]) -> list[list]:
        """HMGET of the same fields of many task records, in one round trip."""
        if self.shards.is_sharded(queue):
            return self.per_home(queue, ids, lambda name, group: self.fields(name, group, names))
        q = self.keys.queue(queue)
        with self.client.pipeline(transaction=False) as pipe:
            for task_id in ids:
                pipe.hmget(q.task(task_id), list(names))
            return pipe.execute()

    @translating
    def records(
        self, queue: str, ids: Sequence[str], shown: Shown | None = LISTED
    ) -> list[TaskRecord | None]:
        """The records of tasks of one queue, read for people (see bounded.py) unless
        `shown` is None."""
        if self.shards.is_sharded(queue):
            return self.per_home(queue, ids, lambda name, group: self.records(name, group, shown))
        q, name = self.keys.queue(queue), logical_queue(queue)
        hashes = self._hashes([q.task(task_id) for task_id in ids], shown)
        return [
            TaskRecord.from_hash(h, shown, task_id=task_id, queue=name) if h else None
            for task_id, h in zip(ids, hashes, strict=True)
        ]

    @translating
    def wait_finished(self, queue: str, task_id: str, timeout: float | None) -> TaskRecord | None:
        """Block until the task is terminal (or `timeout` s pass: None). No polling: it
        sleeps on the queue's event stream and re-reads the record only when an event
        names this task (or a second passed, in case the event was trimmed away)."""
        queue = self.home(queue, task_id)
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

    @translating
    def read_events(
        self, cursors: dict[str, str], block_ms: int, count: int = 1000
    ) -> list[tuple[str, str, dict]]:
        """(storage name, entry id, fields) from the event streams of the given queues
        or sub-queues after the given entry ids, in one XREAD that waits up to block_ms
        for the first entry (on a cluster, one XREAD per stream, all at once)."""
        by_key = {self.keys.queue(queue).events: queue for queue in cursors}
        streams = {key: cursors[queue] for key, queue in by_key.items()}
        if self.stream_reads is not None and len(streams) > 1:
            reply = self.stream_reads.read(streams, count, block_ms)
        else:
            reply = self.client.xread(streams, count=count, block=block_ms)
        return [
            (by_key[key], entry_id, fields)
            for key, entries in reply
            for entry_id, fields in entries
        ]

    @translating
    def workers(self) -> list[WorkerInfo]:
        """The worker registry, most recent heartbeat first."""
        ids = self.client.zrevrange(self.keys.workers, 0, -1)
        now = self.time_ms()
        with self.client.pipeline(transaction=False) as pipe:
            for worker_id in ids:
                pipe.hgetall(self.keys.worker(worker_id))
            return [WorkerInfo.from_hash(h, now) for h in pipe.execute() if h]

    @translating
    def runtime_histograms(self, queue: str) -> list[Histogram]:
        """Runtime histograms of a queue's tasks, one per task name."""
        return runtime.parse(self._summed_hashes(queue, "runtime"))

    @translating
    def periodic_state(self) -> dict[str, dict]:
        """Schedule name -> {"last_tick": epoch ms, "task_id": ...} as the workers left it."""
        raw = self.client.hgetall(self.keys.periodic)
        out = {}
        for name, value in raw.items():
            try:
                out[name] = json.loads(value)
            except ValueError:
                continue
        return out

    @translating
    def time_ms(self) -> int:
        seconds, micros = self.client.time()
        return seconds * 1000 + micros // 1000


COUNTED = ("pending", "scheduled", "active", "completed", "dead", "cancelled")


def _summed(hashes) -> dict[str, int]:
    total: Counter = Counter()
    for h in hashes:
        total.update({k: int(v) for k, v in h.items()})
    return dict(total)


def make_cursor(member: str, score: float) -> str:
    return f"{score!r}:{member}"


def parse_cursor(cursor: str | None) -> tuple[float | None, str]:
    if not cursor:
        return None, ""
    score, _, member = cursor.partition(":")
    try:
        value = float(score)
        if not math.isfinite(value):
            raise ValueError(score)
        return value, member
    except ValueError:
        raise ValidationError(f"cursor {cursor!r} is not valid.", field="cursor") from None
