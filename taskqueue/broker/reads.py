"""Reading a queue's state: records, counts, listings with cursors. No writes here, and
no KEYS or SCAN: counts are O(1) and listings paginate on the sets' scores.

A sharded queue (shards.py) reads as one: counts and statistics are added up over its
sub-queues, listings merge them in the sets' order, a task is looked for in each.

Redis contents are not trusted, down to the type of a key (damage.py): a read never
fails on a key of the wrong type. It reads such a key as empty and flags it (a
queue's fixed keys in QueueCounts.damaged, task records in Page.damaged); moving it
aside is left to the next script that touches it, since reads change nothing.
"""

import heapq
import itertools
import json
import math
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import redis

from .. import runtime
from ..errors import TaskDoesNotExist, ValidationError
from ..record_fields import LISTED, SHOWN, Shown
from ..records import TaskRecord
from ..runtime import Histogram
from ..status import Status
from ..workers import WorkerInfo
from .bounded import read_hashes
from .damage import KIND_TYPES, Damage, unless_wrong_type
from .errors import translating
from .keys import QueueKeys, is_queue_name, logical_queue, wire

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
    damaged: tuple[Damage, ...] = ()  # fixed keys of the queue of the wrong type


@dataclass(frozen=True, slots=True)
class Page:
    items: list[TaskRecord]
    next_cursor: str | None
    damaged: tuple[str, ...] = ()  # keys of records skipped: not hashes


class BrokerReads:
    """Mixed into RedisBroker: needs self.client, self.keys, self.config, self.shards,
    self.stream_reads and self.home()."""

    @translating
    def get(self, queue: str, task_id: str) -> TaskRecord | None:
        """The record as stored (every field in full): the engine's own read. None when
        there is none, or what is there is not a hash."""
        return self._first_record(self.shards.of(queue), task_id, None)

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

    def _hashes(self, keys: Sequence[str], shown: Shown | None) -> list[dict | None]:
        """The hash at each key ({} for none, None for a key that is not a hash), read
        for people (bounded.py) unless `shown` is None."""
        return self.hashes(keys) if shown is None else read_hashes(self.client, keys, shown)

    def hashes(self, keys: Sequence[str]) -> list[dict | None]:
        """HGETALL of each key in one round trip; None for a key that is not a hash."""
        with self.client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hgetall(wire(key))
            return [unless_wrong_type(r, None) for r in pipe.execute(raise_on_error=False)]

    @translating
    def known_queues(self) -> list[str]:
        """Configured queues first (in order), then any other queue that was used (the
        set's members that are valid queue names: anyone can write into it)."""
        seen = list(self.config.QUEUES)
        try:
            used = self.client.smembers(self.keys.queues)
        except redis.ResponseError as exc:
            used = unless_wrong_type(exc, set())
        return seen + sorted({q for q in used if is_queue_name(q)} - set(seen))

    @translating
    def counts(self, queue: str) -> QueueCounts:
        """Tasks per status, paused flag, lifetime counters and the fixed keys of the
        wrong type (read as empty): O(1) (O(sub-queues))."""
        names = self.shards.of(queue)
        with self.client.pipeline(transaction=False) as pipe:
            for name in names:
                q = self.keys.queue(name)
                for kind in KIND_TYPES:
                    pipe.type(getattr(q, kind))
                for kind in COUNTED:
                    pipe.zcard(getattr(q, kind))
                pipe.exists(q.paused)
                pipe.hgetall(q.stats)
            replies = [unless_wrong_type(r, None) for r in pipe.execute(raise_on_error=False)]
        per = len(KIND_TYPES) + len(COUNTED) + 2
        rows = [replies[i : i + per] for i in range(0, len(replies), per)]
        pairs = zip(names, rows, strict=True)
        damaged = tuple(d for name, row in pairs for d in self._damage(name, row))
        rows = [row[len(KIND_TYPES) :] for row in rows]
        sizes = [sum(row[k] or 0 for row in rows) for k in range(len(COUNTED))]
        paused = any(row[-2] for row in rows)
        stats = _summed(r[-1] for r in rows)
        return QueueCounts(queue, *sizes, paused=paused, stats=stats, damaged=damaged)

    def _damage(self, name: str, row: list) -> list[Damage]:
        """The fixed keys of a (sub-)queue whose TYPE (the row's first values) is wrong."""
        q = self.keys.queue(name)
        return [
            Damage(getattr(q, kind), found, expected)
            for (kind, expected), found in zip(KIND_TYPES.items(), row, strict=False)
            if found not in ("none", expected)
        ]

    @translating
    def dead_errors(self, queue: str) -> dict[str, int]:
        """Dead-letter entries per exception type: O(1), kept by the scripts."""
        raw = self._summed_hashes(queue, "errors")
        return {k: v for k, v in raw.items() if v > 0}

    def _summed_hashes(self, queue: str, kind: str) -> dict[str, int]:
        """A counter hash of a queue, added up over its sub-queues."""
        keys = [getattr(self.keys.queue(name), kind) for name in self.shards.of(queue)]
        return _summed(self.hashes(keys))

    @translating
    def per_minute(self, queue: str, minutes: int, *, now_ms: int | None = None) -> list[dict]:
        """Completed/failed counts for each of the last `minutes` minutes, oldest first."""
        names = self.shards.of(queue)
        current = (now_ms or self.time_ms()) // 60_000
        keys = [
            self.keys.queue(name).minute(m)
            for m in range(current - minutes + 1, current + 1)
            for name in names
        ]
        rows = self.hashes(keys)
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
        records, damaged = [], []
        for name, group in itertools.groupby(entries, key=lambda e: e[2]):
            records += self.records(name, [m for m, _, _ in group], damaged=damaged)
        next_cursor = make_cursor(*entries[-1][:2]) if more else None
        return Page([r for r in records if r is not None], next_cursor, tuple(damaged))

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
                try:
                    batch = fetch(key, start, end, start=offset, num=chunk, withscores=True)
                except redis.ResponseError as exc:  # a set of the wrong type reads as empty
                    batch = unless_wrong_type(exc, [])
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
    def fields(
        self, queue: str, ids: Sequence[str], names: Sequence[str], damaged: list | None = None
    ) -> list[list]:
        """HMGET of the same fields of many task records, in one round trip; a record
        that is not a hash reads as missing (`damaged`, when given, is told its key)."""
        if self.shards.is_sharded(queue):
            run = lambda name, group: self.fields(name, group, names, damaged)  # noqa: E731
            return self.per_home(queue, ids, run)
        keys = [self.keys.queue(queue).task(task_id) for task_id in ids]
        with self.client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hmget(wire(key), list(names))
            rows = [unless_wrong_type(r, None) for r in pipe.execute(raise_on_error=False)]
        if damaged is not None:
            damaged += [key for key, row in zip(keys, rows, strict=True) if row is None]
        return [[None] * len(names) if row is None else row for row in rows]

    @translating
    def records(
        self,
        queue: str,
        ids: Sequence[str],
        shown: Shown | None = LISTED,
        damaged: list | None = None,
    ) -> list[TaskRecord | None]:
        """The records of tasks of one queue, read for people (see bounded.py) unless
        `shown` is None. None: missing, or not a hash (`damaged`, when given, is told
        the keys of the latter)."""
        if self.shards.is_sharded(queue):
            read = lambda name, group: self.records(name, group, shown, damaged)  # noqa: E731
            return self.per_home(queue, ids, read)
        q, name = self.keys.queue(queue), logical_queue(queue)
        keys = [q.task(task_id) for task_id in ids]
        hashes = self._hashes(keys, shown)
        if damaged is not None:
            damaged += [key for key, h in zip(keys, hashes, strict=True) if h is None]
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
        try:
            newest = self.client.xrevrange(q.events, count=1)
        except redis.ResponseError as exc:  # not a stream: re-read every second instead
            newest = unless_wrong_type(exc, [])
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
            try:
                reply = self.client.xread({q.events: last}, count=500, block=int(left * 1000) + 1)
            except redis.ResponseError as exc:
                unless_wrong_type(exc, None)  # not a stream: wait out the second
                time.sleep(left)
                continue
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
        try:
            reply = self._xread(streams, count, block_ms)
        except redis.ResponseError as exc:  # a stream of the wrong type: read the others
            unless_wrong_type(exc, None)
            types = self._types(list(streams))
            streams = {k: c for k, c in streams.items() if types[k] in ("stream", "none")}
            reply = self._xread(streams, count, block_ms) if streams else []
        return [
            (by_key[key], entry_id, fields)
            for key, entries in reply
            for entry_id, fields in entries
        ]

    def _xread(self, streams: dict[str, str], count: int, block_ms: int) -> list:
        if self.stream_reads is not None and len(streams) > 1:
            return self.stream_reads.read(streams, count, block_ms)
        return self.client.xread(streams, count=count, block=block_ms)

    def _types(self, keys: Sequence[str]) -> dict[str, str]:
        with self.client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.type(key)
            return dict(zip(keys, pipe.execute(), strict=True))

    @translating
    def workers(self) -> list[WorkerInfo]:
        """The worker registry, most recent heartbeat first (entries of the wrong type
        are skipped: the workers' next heartbeats move them aside)."""
        try:
            ids = self.client.zrevrange(self.keys.workers, 0, -1)
        except redis.ResponseError as exc:
            ids = unless_wrong_type(exc, [])
        now = self.time_ms()
        found = self.hashes([self.keys.worker(worker_id) for worker_id in ids])
        return [WorkerInfo.from_hash(h, now) for h in found if h]

    @translating
    def runtime_histograms(self, queue: str) -> list[Histogram]:
        """Runtime histograms of a queue's tasks, one per task name."""
        return runtime.parse(self._summed_hashes(queue, "runtime"))

    @translating
    def periodic_state(self) -> dict[str, dict]:
        """Schedule name -> {"last_tick": epoch ms, "task_id": ...} as the workers left it
        (what is not such an object, or not a hash at all, reads as nothing yet)."""
        out = {}
        for name, value in (self.hashes([self.keys.periodic])[0] or {}).items():
            try:
                state = json.loads(value)
            except (ValueError, RecursionError):
                continue
            if isinstance(state, dict):
                out[name] = state
        return out

    @translating
    def global_damage(self) -> tuple[list[Damage], int]:
        """The global keys of the wrong type, and how many were moved aside so far."""
        k = self.keys
        wanted = {k.queues: "set", k.workers: "zset", k.periodic: "hash"}
        wanted |= {k.archive_lock: "string", k.quarantined: "string"}
        with self.client.pipeline(transaction=False) as pipe:
            for key in wanted:
                pipe.type(key)
            pipe.get(k.quarantined)
            *types, moved = pipe.execute(raise_on_error=False)
        found = zip(wanted.items(), types, strict=True)
        damage = [Damage(key, t, want) for (key, want), t in found if t not in ("none", want)]
        return damage, _whole(unless_wrong_type(moved, 0)) or 0

    @translating
    def time_ms(self) -> int:
        seconds, micros = self.client.time()
        return seconds * 1000 + micros // 1000


COUNTED = ("pending", "scheduled", "active", "completed", "dead", "cancelled")


def _summed(hashes) -> dict[str, int]:
    """Counter hashes added up; a missing hash (None) or a value that is not a whole
    number (anyone can write one) counts as nothing."""
    total: Counter = Counter()
    for h in hashes:
        total.update({k: n for k, v in (h or {}).items() if (n := _whole(v)) is not None})
    return dict(total)


def _whole(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


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
