"""Reading task records: one, many, a page of a queue's tasks in a status, the entries
behind a search, and waiting for a task to finish. No writes here, and no KEYS or
SCAN: listings paginate on the sets' scores (the cursor is an Entry's `cursor`).

A sharded queue (shards.py) reads as one: listings merge its sub-queues in the sets'
order, and a task is looked for in each.

Redis contents are not trusted, down to the type of a key (damage.py): a read never
fails on a key of the wrong type. It reads such a key as empty and flags it (task
records in Page.damaged); moving it aside is left to the next script that touches it,
since reads change nothing.
"""

import heapq
import itertools
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import redis

from ..errors import TaskDoesNotExist, ValidationError
from ..record_fields import LISTED, SHOWN, Shown
from ..records import TaskRecord
from ..status import Status
from .bounded import read_hashes
from .codec import PAYLOAD_FIELDS, SUMMARY_FIELDS, Payload, Summary, task_record
from .damage import unless_wrong_type
from .errors import translating
from .keys import QueueKeys, logical_queue, wire

# Status -> (set kind, newest first?) used to list the tasks in that status.
LISTINGS = {
    Status.WAITING: ("waiting", False),
    Status.PENDING: ("pending", False),
    Status.SCHEDULED: ("scheduled", False),
    Status.PROCESSING: ("active", False),
    Status.COMPLETED: ("completed", True),
    Status.DEAD: ("dead", True),
    Status.CANCELLED: ("cancelled", True),
    None: ("index", True),
}
CHUNK = 200  # set entries fetched per round trip


class Entry(NamedTuple):
    """A task's place in a queue's listing: its id, its score there (the order), and
    the (sub-)queue it is stored in."""

    id: str
    score: float
    storage: str

    @property
    def cursor(self) -> str:
        """Where a listing after this entry starts (`cursor=` of the reads below)."""
        return at(self.id, self.score)


@dataclass(frozen=True, slots=True)
class Page:
    items: list[TaskRecord]
    next_cursor: str | None
    damaged: tuple[str, ...] = ()  # keys of records skipped: not hashes


class RecordReads:
    """Mixed into RedisBroker: needs client, keys, shards and perform()."""

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
                return task_record(h, shown, task_id=task_id, queue=logical_queue(name))
        return None

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
            return self._read_per_home(queue, ids, read)
        keys = [self.keys.queue(queue).task(task_id) for task_id in ids]
        hashes = self._hashes(keys, shown)
        if damaged is not None:
            damaged += [key for key, h in zip(keys, hashes, strict=True) if h is None]
        name = logical_queue(queue)
        return [
            task_record(h, shown, task_id=task_id, queue=name) if h else None
            for task_id, h in zip(ids, hashes, strict=True)
        ]

    @translating
    def summaries(
        self, queue: str, ids: Sequence[str], damaged: list | None = None
    ) -> list[Summary | None]:
        """Status, name and exception type of many tasks, in one round trip; None for
        one that is missing or not a hash (`damaged`, when given, is told its key)."""
        rows = self._fields(queue, ids, SUMMARY_FIELDS, damaged)
        return [None if row[0] is None else Summary(*(v or "" for v in row)) for row in rows]

    @translating
    def payloads(self, queue: str, ids: Sequence[str]) -> list[Payload]:
        """Name and JSON fields of many tasks exactly as stored ('' where missing)."""
        rows = self._fields(queue, ids, PAYLOAD_FIELDS, None)
        return [Payload(*(v or "" for v in row)) for row in rows]

    def _fields(self, queue: str, ids: Sequence[str], names, damaged) -> list[list]:
        """HMGET of the same fields of many records (None each for a key of the wrong type)."""
        if self.shards.is_sharded(queue):
            read = lambda name, group: self._fields(name, group, names, damaged)  # noqa: E731
            return self._read_per_home(queue, ids, read)
        keys = [self.keys.queue(queue).task(task_id) for task_id in ids]
        with self.client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hmget(wire(key), list(names))
            rows = [unless_wrong_type(r, None) for r in pipe.execute(raise_on_error=False)]
        if damaged is not None:
            damaged += [key for key, row in zip(keys, rows, strict=True) if row is None]
        return [[None] * len(names) if row is None else row for row in rows]

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

    def home(self, queue: str, task_id: str) -> str:
        """The (sub-)queue a task is stored in (see Operations._home)."""
        return self.perform(self._home(queue, task_id))

    def _read_per_home(self, queue: str, ids: Sequence[str], read: Callable) -> list:
        """read(sub-queue, its ids) for each sub-queue of a sharded queue holding some
        of the tasks; the answers in the order of ids."""
        groups: dict[str, list[str]] = {}
        for task_id, name in self.perform(self._homes(queue, ids)).items():
            groups.setdefault(name, []).append(task_id)
        answers = {}
        for name, group in groups.items():
            answers.update(zip(group, read(name, group), strict=True))
        return [answers[task_id] for task_id in ids]

    # -- listings ------------------------------------------------------------------------

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
        entries = list(itertools.islice(self.entries(queue, status, cursor), limit + 1))
        more = len(entries) > limit
        entries = entries[:limit]
        records, damaged = [], []
        for name, group in itertools.groupby(entries, key=lambda e: e.storage):
            records += self.records(name, [e.id for e in group], damaged=damaged)
        next_cursor = entries[-1].cursor if more else None
        return Page([r for r in records if r is not None], next_cursor, tuple(damaged))

    def entries(
        self,
        queue: str,
        status: Status | None,
        cursor: str | None = None,
        *,
        chunk: int = CHUNK,
        newest_first: bool | None = None,
    ) -> Iterator[Entry]:
        """The entries of a queue's tasks in a status (None: every task) after the
        cursor, in the listing's order (finished ones and all: newest first; waiting
        ones: next first), unless `newest_first` says otherwise. A sharded queue's
        sub-queues are merged in that order."""
        kind, newest = LISTINGS[status]
        newest = newest if newest_first is None else newest_first
        streams = [
            self._entries(name, kind, cursor, newest, chunk) for name in self.shards.of(queue)
        ]
        if len(streams) == 1:
            return streams[0]
        return heapq.merge(*streams, key=lambda e: (e.score, e.id), reverse=newest)

    def _entries(self, name: str, kind: str, cursor, newest_first: bool, chunk: int):
        key = getattr(self.keys.queue(name), kind)
        for member, score in self.iter_entries(key, cursor, newest_first, chunk):
            yield Entry(member, score, name)

    def iter_entries(
        self, key: str, cursor: str | None, newest_first: bool, chunk: int
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

    # -- a task by the start of its id (the console's short ids) ---------------------------

    @translating
    def ids_with_prefix(
        self, queue: str, prefix: str, *, calls: int, count: int, limit: int
    ) -> tuple[list[Entry], bool]:
        """Live tasks of a queue whose id starts with `prefix`: ZSCAN of the queue's
        index (every live record) with MATCH, so the server compares and only matches
        cross the wire. At most `calls` ZSCAN calls of about `count` entries each per
        (sub-)queue; stops once `limit` are found. Returns the entries (score:
        created-at) and whether every index was walked to its end."""
        pattern = wire(_glob_escaped(prefix) + "*")
        found: list[Entry] = []
        complete = True
        for name in self.shards.of(queue):
            key, cursor = wire(self.keys.queue(name).index), 0
            for _ in range(calls):
                try:
                    cursor, batch = self.client.zscan(key, cursor, match=pattern, count=count)
                except redis.ResponseError as exc:  # a set of the wrong type reads as empty
                    cursor, batch = 0, unless_wrong_type(exc, [])
                found += [Entry(member, score, name) for member, score in batch]
                if cursor == 0 or len(found) >= limit:
                    break
            complete = complete and cursor == 0
            if len(found) >= limit:
                break
        return found[:limit], complete

    # -- waiting for a task ----------------------------------------------------------------

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


def _glob_escaped(text: str) -> str:
    """`text` matched literally by a Redis glob pattern (MATCH of SCAN and ZSCAN)."""
    return "".join("\\" + c if c in "*?[]\\^" else c for c in text)


def at(task_id: str, score: float) -> str:
    """The cursor of a listing that goes on after (task_id, score)."""
    return f"{score!r}:{task_id}"


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
