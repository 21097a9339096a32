"""How records are stored: the fields of a task's HASH, of a worker's registry entry
and of the histogram hashes (waits, a queue's runtimes), and the ARGV layout of a new
task. The one place (with the Lua scripts) that names a record field.

Reading is defensive (record_fields.py): anyone with access to Redis can write any
field, so a field that does not parse comes back as None, with the reason in the
record's `unreadable`, instead of raising.
"""

import json
import math
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

from ..record_fields import FieldReader, Shown, as_float, as_int, as_text, as_time, preview
from ..records import Attempt, Claimed, NewTask, TaskError, TaskRecord
from ..runtime import BUCKETS as RUNTIME_BUCKETS
from ..status import Status
from ..text import as_text as escaped
from ..workers import LOST_AFTER_S, WorkerBeat, WorkerInfo
from .counters import BucketCounts
from .keys import logical_queue
from .outcomes import Claim

RUNTIME_SEPARATOR = "|"  # a runtime hash field is '<task>|<part>' (histogram_fields)


class Summary(NamedTuple):
    """What a search filters on, read without the rest of the record."""

    status: str
    name: str
    error_type: str


SUMMARY_FIELDS = Summary._fields


class Payload(NamedTuple):
    """A task's name and JSON fields exactly as stored (bytes that are not UTF-8
    included), to copy it into another queue unchanged."""

    name: str
    args: str
    kwargs: str
    meta: str


PAYLOAD_FIELDS = Payload._fields


# -- tasks ----------------------------------------------------------------------------


def new_task_argv(t: NewTask) -> list:
    """A new task as enqueue_tasks.lua reads it (15 values; see its header)."""
    timeout = "" if t.timeout is None else t.timeout
    return [
        t.id,
        t.band,
        t.priority,
        t.delay_ms,
        t.eta_ms,
        t.idempotency_key,
        t.name,
        t.args,
        t.kwargs,
        t.max_retries,
        timeout,
        t.meta,
        "1" if t.waiting else "",
        t.notify,
        t.tenant,
    ]


def task_record(
    h: dict[str, Any],
    shown: Shown | None = None,
    *,
    task_id: str | None = None,
    queue: str | None = None,
) -> TaskRecord:
    """The record in hash `h`. `task_id` and `queue` say where it was found: they win
    over what the hash says (its contents are not trusted). `shown`: see
    record_fields.py."""
    read = FieldReader({as_text(k): as_text(v) for k, v in h.items()}, shown)
    g, j, raw = read.text, read.json, read.h
    return TaskRecord(
        id=as_text(task_id) if task_id is not None else g("id"),
        name=g("name"),
        queue=queue if queue is not None else g("queue"),
        status=_status(g("status")),
        priority=as_int(raw.get("priority")),
        band=as_int(raw.get("band")),
        args=j("args"),
        kwargs=j("kwargs"),
        attempts=as_int(raw.get("attempts")) or 0,
        failures=as_int(raw.get("failures")) or 0,
        lost=as_int(raw.get("lost")) or 0,
        max_retries=as_int(raw.get("max_retries")),
        timeout=as_float(raw.get("timeout")),
        created_at=as_time(raw.get("created_at")),
        run_at=as_time(raw.get("run_at")),
        started_at=as_time(raw.get("started_at")),
        finished_at=as_time(raw.get("finished_at")),
        heartbeat_at=as_time(raw.get("heartbeat_at")),
        lease_until=as_time(raw.get("lease_until")),
        worker=g("worker"),
        result=j("result"),
        error_type=g("error_type"),
        error_message=g("error_message"),
        traceback=g("traceback"),
        dead_reason=g("dead_reason"),
        idempotency_key=g("idempotency_key"),
        cancel_requested=raw.get("cancel_requested") == "1",
        progress=j("progress"),
        meta=j("meta"),
        tenant=g("tenant"),
        history=_history(read),
        unreadable=read.unreadable,
    )


def _history(read: FieldReader) -> tuple[Attempt, ...]:
    """One Attempt per `h:<n>` field (`worker|started|ended|outcome`), with the error
    of `e:<n>`; with a Shown, only the last `attempts` of them."""
    numbered = sorted(
        (number, value)
        for key, value in read.h.items()
        if key.startswith("h:") and (number := as_int(key[2:])) is not None
    )
    limit = read.shown.attempts if read.shown else None
    if limit is not None and len(numbered) > limit:
        read.unreadable["history"] = f"{len(numbered):,} attempts, the last {limit:,} shown"
        numbered = numbered[-limit:]
    return tuple(
        attempt
        for number, value in numbered
        if (attempt := _attempt(read, number, value)) is not None
    )


def _attempt(read: FieldReader, number: int, value: Any) -> Attempt | None:
    parts = value.split("|") if isinstance(value, str) else []
    if len(parts) < 2:
        return None
    part = lambda i: read.text(f"h:{number}", parts[i]) if len(parts) > i else None  # noqa: E731
    return Attempt(
        number=number,
        worker=part(0),
        started_at=as_time(parts[1]),
        finished_at=as_time(parts[2]) if len(parts) > 2 else None,
        outcome=part(3),
        error=_attempt_error(read, number),
    )


def _attempt_error(read: FieldReader, number: int) -> dict | None:
    name = f"e:{number}"
    error = read.json(name)
    if error is not None and not isinstance(error, dict):
        read.unreadable[name] = f"not a JSON object: {preview(read.h[name])}"
        return None
    return error


def _status(value: str) -> Status | str:
    try:
        return Status(value)
    except ValueError:
        return value


def error_json(error: TaskError) -> str:
    """A failed attempt's error as its `e:<n>` field holds it."""
    fields = {"type": error.type, "message": error.message, "traceback": error.traceback}
    return json.dumps(fields, separators=(",", ":"))  # ASCII: any lone surrogate escaped


# -- the worker registry ------------------------------------------------------------


def worker_entry(beat: WorkerBeat, heartbeat_ms: int) -> dict[str, str]:
    """A worker's registry HASH."""
    return {
        "id": beat.id,
        "name": beat.name,
        "host": beat.host,
        "pid": str(beat.pid),
        "queues": ",".join(beat.queues),
        "concurrency": str(beat.concurrency),
        "processes": str(beat.processes),
        "started_at": str(beat.started_at),
        "heartbeat_at": str(heartbeat_ms),
        "state": beat.state,
        "in_flight": str(beat.in_flight),
        "processed": str(beat.processed),
        "failed": str(beat.failed),
    }


def worker_info(h: dict[str, str], now_ms: int) -> WorkerInfo:
    """From a registry entry; anyone can write one, so every field is read defensively
    (text that is not UTF-8 with \\xNN escapes, numbers that do not parse as 0)."""
    h = {escaped(k): escaped(v) for k, v in h.items()}
    heartbeat = _int(h.get("heartbeat_at"))
    return WorkerInfo(
        id=h.get("id", ""),
        name=h.get("name", ""),
        host=h.get("host", ""),
        pid=_int(h.get("pid")),
        queues=[q for q in h.get("queues", "").split(",") if q],
        concurrency=_int(h.get("concurrency")),
        processes=_int(h.get("processes")) or 1,
        started_at=_ms_time(h.get("started_at")),
        heartbeat_at=_ms_time(h.get("heartbeat_at")),
        in_flight=_int(h.get("in_flight")),
        processed=_int(h.get("processed")),
        failed=_int(h.get("failed")),
        state=h.get("state", ""),
        lost=now_ms - heartbeat > LOST_AFTER_S * 1000,
    )


def _int(value: str | None) -> int:
    try:
        return int(float(value)) if value else 0
    except (ValueError, OverflowError):
        return 0


def _ms_time(value: str | None) -> datetime | None:
    ms = _int(value)
    try:
        return datetime.fromtimestamp(ms / 1000, tz=UTC) if ms else None
    except (ValueError, OverflowError, OSError):  # a year past 9999, or before 1
        return None


# -- histograms (waits and runtimes) -------------------------------------------------


def bucket_counts(fields: Mapping[str, int], buckets: int) -> BucketCounts:
    """A histogram hash's whole-number fields: 'b<i>' (i < buckets) -> n, 'sum_ms',
    'count'. Any other field is ignored."""
    counts = tuple(fields.get(f"b{i}", 0) for i in range(buckets))
    return BucketCounts(counts, fields.get("sum_ms"), fields.get("count", 0))


def histogram_fields(h: BucketCounts) -> list[tuple[str, int]]:
    """A histogram's increments as (field, n): the buckets that gained, the sum (when it
    is kept) and the count (when there is one)."""
    out = [(f"b{i}", n) for i, n in enumerate(h.counts) if n]
    if h.sum_ms is not None:
        out.append(("sum_ms", h.sum_ms))
    if h.count:
        out.append(("count", h.count))
    return out


def runtime_increments(counts: Mapping[str, BucketCounts]) -> list[tuple[str, int]]:
    """Task name -> its histogram's increments, as (field, n) of a queue's runtime hash."""
    return [
        (f"{task}{RUNTIME_SEPARATOR}{part}", n)
        for task, h in counts.items()
        for part, n in histogram_fields(h)
    ]


def runtime_counts(summed: dict[str, int]) -> dict[str, BucketCounts]:
    """A queue's runtime hash (its values whole numbers) as task name -> its histogram
    (runtime.BUCKETS). A task shows with any field of its own, even one that is not a
    histogram's. Names come from records anyone can write: one that is not UTF-8 is
    shown with \\xNN escapes, and fields that end up under the same name are added up."""
    per_task: dict[str, Counter] = {}
    for name, value in summed.items():
        task, _, part = name.rpartition(RUNTIME_SEPARATOR)
        if task:
            per_task.setdefault(escaped(task), Counter())[part] += value
    buckets = len(RUNTIME_BUCKETS) + 1
    return {task: bucket_counts(parts, buckets) for task, parts in per_task.items()}


# -- what a claim answers -----------------------------------------------------------

CLAIMED_FIELDS = 12  # values per task in claim_tasks.lua's reply (after its 3 header values)


def claimed_tasks(queue: str, reply: list) -> Claim:
    """The claimed tasks. Their fields come from records that anyone with access to
    Redis may have written: a field that does not parse never raises here (the tasks
    are already in `active`); it is named in `problem`, and the worker dead-letters the
    task with it (runner.py) instead of running it."""
    passed, throttled, next_permit, *flat = reply
    out = Claim()
    out.suspects_passed = int(passed)
    out.throttled = int(throttled)
    out.next_permit = int(next_permit)
    for i in range(0, len(flat), CLAIMED_FIELDS):
        problems: list[str] = []
        timeout = _field(flat[i + 5], "timeout", _timeout, None, problems)
        out.append(
            Claimed(
                id=flat[i],
                queue=queue,
                attempt=int(flat[i + 1]),  # the claim script's own counter: always a number
                name=flat[i + 2],
                args=flat[i + 3],
                kwargs=flat[i + 4],
                timeout=timeout,
                failures=_field(flat[i + 6], "failures", _count, 0, problems),
                max_retries=_field(flat[i + 7], "max_retries", _count, 0, problems),
                meta=flat[i + 8],
                lost=_field(flat[i + 9], "lost", _count, 0, problems),
                tenant=flat[i + 10],
                band=_band(flat[i + 11]),
                problem="; ".join(problems),
                logical_queue=logical_queue(queue),
            )
        )
    return out


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


def _band(text: str) -> int:
    """Only orders the worker's own buffer: a damaged value means the default band,
    as in the scripts (common.lua's `whole`), not a dead letter."""
    try:
        value = int(text)
    except ValueError:
        return 100
    return value if 0 <= value <= 200 else 100


def _timeout(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(text)
    return value


def _field(value, name: str, parse, default, problems: list[str]):
    """`parse(value)`, or `default` for a missing value; a malformed one adds a problem."""
    if value in (None, ""):
        return default
    try:
        return parse(value)
    except (ValueError, TypeError, OverflowError):
        problems.append(f"record field {name} is not a valid number: {str(value)[:40]!r}")
        return default
