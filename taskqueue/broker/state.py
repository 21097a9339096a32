"""Reading the state around the tasks: which queues exist, their counts, statistics and
flags, dead letters per exception, runtime histograms, the event streams the console
relays, the worker registry, periodic schedules and keys of the wrong type. No writes
here, and no KEYS or SCAN: counts are O(1) (O(sub-queues) for a sharded queue, whose
counts and statistics are added up).
"""

import contextlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import redis

from .. import runtime
from ..errors import DamagedKey
from ..priority import BAND_WIDTH
from ..runtime import Histogram
from ..workers import WorkerInfo
from .codec import runtime_counts, worker_info
from .counters import MinuteCounts, QueueStats
from .damage import KIND_TYPES, Damage, unless_wrong_type
from .errors import translating
from .keys import is_queue_name, logical_queue
from .requests import script
from .server_status import NodeStatus, server_status


@dataclass(frozen=True, slots=True)
class QueueCounts:
    queue: str
    pending: int
    scheduled: int
    processing: int
    completed: int
    dead: int
    cancelled: int
    waiting: int  # workflow nodes waiting for their parents (docs/workflows.md)
    paused: bool
    stats: QueueStats
    damaged: tuple[Damage, ...] = ()  # fixed keys of the queue of the wrong type


class StreamEvent(NamedTuple):
    """One entry of a queue's event stream: a task's state change (task_id, status) or
    a queue event (event, count), e.g. a pause or a purge."""

    storage: str  # the (sub-)queue whose stream it is in: where its entry id goes on
    entry_id: str
    queue: str
    task_id: str | None
    status: str | None
    event: str | None
    count: int | None


class PeriodicState(NamedTuple):
    last_tick_ms: int | None  # the tick the workers last enqueued (None: not yet)
    task_id: str  # the task it made


class StateReads:
    """Mixed into RedisBroker: needs client, keys, config, shards, stream_reads,
    hashes() and perform()."""

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
        stats = QueueStats.of(_summed(r[-1] for r in rows))
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
    def per_minute(
        self, queue: str, minutes: int, *, now_ms: int | None = None
    ) -> list[MinuteCounts]:
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
        return [MinuteCounts.of(_summed(rows[i : i + n])) for i in range(0, len(rows), n)]

    @translating
    def oldest_pending_ms(self, queue: str) -> int | None:
        """Ready time (epoch ms) of the longest-waiting pending task, or None (also when
        pending has the wrong type: a read moves nothing aside)."""
        found = []
        for name in self.shards.of(queue):
            argv = [BAND_WIDTH]
            call = self._call("oldest_pending", name, ("pending",), argv, _oldest, heals=False)
            with contextlib.suppress(DamagedKey):
                found.append(self.perform(script(call)))
        return min((ms for ms in found if ms is not None), default=None)

    @translating
    def read_events(
        self, cursors: dict[str, str], block_ms: int, count: int = 1000
    ) -> list[StreamEvent]:
        """The entries of the event streams of the given queues or sub-queues after the
        given entry ids, in one XREAD that waits up to block_ms for the first entry (on
        a cluster, one XREAD per stream, all at once)."""
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
            _stream_event(by_key[key], entry_id, fields)
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
        return [worker_info(h, now) for h in found if h]

    @translating
    def runtime_histograms(self, queue: str) -> list[Histogram]:
        """Runtime histograms of a queue's tasks, one per task name."""
        return runtime.histograms(runtime_counts(self._summed_hashes(queue, "runtime")))

    @translating
    def periodic_state(self) -> dict[str, PeriodicState]:
        """Schedule name -> its last tick as the workers left it (what is not such a
        record, or not a hash at all, reads as nothing yet)."""
        out = {}
        for name, value in (self.hashes([self.keys.periodic])[0] or {}).items():
            try:
                state = json.loads(value)
            except (ValueError, RecursionError):
                continue
            if isinstance(state, dict):
                tick = state.get("last_tick")
                tick = tick if type(tick) is int else None
                out[name] = PeriodicState(tick, str(state.get("task_id", "")))
        return out

    @translating
    def server_status(self) -> list[NodeStatus]:
        """Memory, eviction policy, persistence, clients and ops/s of the broker's Redis
        (of every primary, for a cluster): the console's Redis panel."""
        return server_status(self.client)

    @translating
    def time_ms(self) -> int:
        """Redis's clock, in epoch ms (a plain command: a cluster pipeline refuses TIME)."""
        seconds, micros = self.client.time()
        return seconds * 1000 + micros // 1000

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


COUNTED = ("pending", "scheduled", "active", "completed", "dead", "cancelled", "waiting")


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


def _oldest(reply: int) -> int | None:
    return None if reply < 0 else reply


def _stream_event(storage: str, entry_id: str, fields: dict[str, str]) -> StreamEvent:
    count = fields.get("count")
    return StreamEvent(
        storage,
        entry_id,
        logical_queue(storage),
        fields.get("id"),
        fields.get("status"),
        fields.get("event"),
        int(count) if count and count.lstrip("-").isdigit() else None,
    )
