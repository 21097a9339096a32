"""The queues' recent history, for the console's charts (docs/console.md#charts):
completed and failed tasks per bucket, wait (ready -> start) percentiles per bucket and
per queue, runtime percentiles per task, over the last hour (minute buckets), 24 hours
or 7 days (hour buckets). Read from the buckets the scripts keep in Redis
(docs/redis-keys.md#history), never from per-task rows.

Percentiles come from fixed-bucket histograms (runtime.BUCKETS for runtimes,
broker.WAIT_BUCKETS for waits), interpolated linearly inside the bucket where the rank
falls, as Prometheus' histogram_quantile does: exact to within that bucket's width. A
rank that falls in the open last bucket reads as its lower bound, flagged `above`.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from .broker import WAIT_BUCKETS, BucketCounts, HistoryBucket
from .client import get_broker
from .names import validate_queue_name
from .runtime import BUCKETS as RUNTIME_BUCKETS


@dataclass(frozen=True, slots=True)
class Span:
    key: str  # what the console's range switch sends: 1h, 24h, 7d
    label: str
    buckets: int
    hourly: bool

    @property
    def bucket_s(self) -> int:
        return 3600 if self.hourly else 60


SPANS = {
    "1h": Span("1h", "1 h", 60, hourly=False),
    "24h": Span("24h", "24 h", 24, hourly=True),
    "7d": Span("7d", "7 d", 24 * 7, hourly=True),
}
DEFAULT_SPAN = "1h"


@dataclass(frozen=True, slots=True)
class Percentiles:
    """Of a histogram: how many, p50 and p95 and the mean in seconds (None: empty, or
    no sum kept)."""

    count: int
    p50: float | None
    p95: float | None
    mean: float | None
    above: bool = False  # p95 fell in the open last bucket: it is at least `p95`


EMPTY = Percentiles(0, None, None, None)


def percentile(bounds: Sequence[float], counts: Sequence[int], q: float) -> float | None:
    """The q-quantile (0 < q <= 1) of a histogram: `counts[i]` observations at most
    `bounds[i]` (and above `bounds[i - 1]`), `counts[len(bounds)]` above the last.
    None when it is empty."""
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for i, n in enumerate(counts):
        if n > 0 and seen + n >= rank:
            if i >= len(bounds):
                return float(bounds[-1])
            lower = bounds[i - 1] if i else 0.0
            return lower + (bounds[i] - lower) * (rank - seen) / n
        seen += n
    return float(bounds[-1])


def percentiles(bounds: Sequence[float], h: BucketCounts) -> Percentiles:
    """Of a histogram over `bounds`; its mean needs the sum (the runtime histograms keep
    it, the wait histograms do not: the mean is then None)."""
    counts = [max(0, n) for n in h.padded(len(bounds) + 1)]
    total = sum(counts)
    if total == 0:
        return EMPTY
    return Percentiles(
        count=total,
        p50=percentile(bounds, counts, 0.5),
        p95=percentile(bounds, counts, 0.95),
        mean=max(0, h.sum_ms) / 1000 / total if h.sum_ms is not None else None,
        above=sum(counts[:-1]) < 0.95 * total,  # the rank falls in the open bucket
    )


@dataclass(frozen=True, slots=True)
class Point:
    """One bucket of the chart, every queue shown added up."""

    start: datetime
    completed: int
    failed: int
    wait: Percentiles


@dataclass(frozen=True, slots=True)
class TaskRuntime:
    queue: str
    task: str
    runtime: Percentiles


@dataclass(frozen=True, slots=True)
class History:
    span: Span
    queues: list[str]
    points: list[Point]  # oldest first; the last is the bucket under way
    completed: int
    failed: int
    wait: Percentiles  # every queue shown, over the span
    waits: dict[str, Percentiles]  # per queue, over the span
    runtimes: list[TaskRuntime]  # per queue and task over the span, most attempts first


def check_span(span: object) -> Span:
    """The span a range switch names; anything else is the default (1 h)."""
    return SPANS.get(span, SPANS[DEFAULT_SPAN]) if isinstance(span, str) else SPANS[DEFAULT_SPAN]


def history(queues: Sequence[str], span: Span, *, now_ms: int | None = None) -> History:
    """The history of `queues` over `span`: one read (a pipeline) per queue."""
    broker = get_broker()
    now = now_ms if now_ms is not None else broker.time_ms()
    per_queue: dict[str, list[HistoryBucket]] = {}
    for name in queues:
        read = broker.history(
            validate_queue_name(name), span.buckets, hourly=span.hourly, now_ms=now
        )
        per_queue[name] = read
    width = span.bucket_s * 1000
    first = now // width - span.buckets + 1
    points = []
    for i in range(span.buckets):
        rows = [buckets[i] for buckets in per_queue.values()]
        waits = _added(row.waits for row in rows)
        points.append(
            Point(
                start=datetime.fromtimestamp((first + i) * width / 1000, tz=UTC),
                completed=sum(row.completed for row in rows),
                failed=sum(row.failed for row in rows),
                wait=percentiles(WAIT_BUCKETS, waits),
            )
        )
    waits = {
        name: percentiles(WAIT_BUCKETS, _added(row.waits for row in buckets))
        for name, buckets in per_queue.items()
    }
    runtimes = []
    for name, buckets in per_queue.items():
        by_task: dict[str, BucketCounts] = {}
        for row in buckets:
            for task, h in row.runtimes.items():
                by_task[task] = by_task[task] + h if task in by_task else h
        runtimes += [
            TaskRuntime(name, task, percentiles(RUNTIME_BUCKETS, h)) for task, h in by_task.items()
        ]
    runtimes.sort(key=lambda r: (-r.runtime.count, r.queue, r.task))
    return History(
        span=span,
        queues=list(queues),
        points=points,
        completed=sum(p.completed for p in points),
        failed=sum(p.failed for p in points),
        wait=percentiles(WAIT_BUCKETS, _added(row.waits for b in per_queue.values() for row in b)),
        waits=waits,
        runtimes=runtimes,
    )


def _added(histograms) -> BucketCounts:
    return sum(histograms, BucketCounts())
