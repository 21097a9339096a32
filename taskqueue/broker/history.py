"""Reading a queue's history (docs/redis-keys.md#history): completed and failed counts,
wait histograms and runtime histograms per minute (kept 2 h) and per hour (kept 8
days), which the scripts write as tasks are claimed and finish (common.lua's
count_minute, count_waits, tally; record_runtimes.lua). No writes here: one pipeline
of HGETALLs, three keys per bucket and (sub-)queue; a key of the wrong type or a value
that is not a whole number reads as nothing.
"""

from dataclasses import dataclass, field

from .codec import bucket_counts, runtime_counts
from .counters import BucketCounts
from .errors import translating
from .state import _summed

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
# Upper bounds in seconds of the wait histograms' buckets; a 17th bucket counts the
# waits above the last. The same bounds, in ms, as common.lua's WAIT_BOUNDS.
WAIT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                300.0, 900.0, 3600.0)  # fmt: skip
MAX_BUCKETS = 24 * 8  # what a read may ask for: the hour buckets' TTL (8 days)


@dataclass(frozen=True, slots=True)
class HistoryBucket:
    """One minute or hour of a queue (its sub-queues added up)."""

    start_ms: int
    completed: int = 0
    failed: int = 0
    waits: BucketCounts = field(default_factory=BucketCounts)  # over WAIT_BUCKETS
    runtimes: dict[str, BucketCounts] = field(default_factory=dict)  # per task, runtime.BUCKETS


class HistoryReads:
    """Mixed into RedisBroker: needs keys, shards, hashes() and time_ms()."""

    @translating
    def history(
        self, queue: str, buckets: int, *, hourly: bool, now_ms: int | None = None
    ) -> list[HistoryBucket]:
        """The last `buckets` minutes (or hours, `hourly`) of a queue, oldest first, the
        one under way last."""
        if not 1 <= buckets <= MAX_BUCKETS:
            raise ValueError(f"buckets must be 1..{MAX_BUCKETS}, not {buckets!r}")
        width = HOUR_MS if hourly else MINUTE_MS
        current = (now_ms if now_ms is not None else self.time_ms()) // width
        names = self.shards.of(queue)
        keys = []
        for n in range(current - buckets + 1, current + 1):
            for name in names:
                q = self.keys.queue(name)
                if hourly:
                    keys += [q.hour(n), q.wait_hour(n), q.runtime_hour(n)]
                else:
                    keys += [q.minute(n), q.wait_minute(n), q.runtime_minute(n)]
        rows = self.hashes(keys)
        per = 3 * len(names)
        out = []
        for i, n in enumerate(range(current - buckets + 1, current + 1)):
            row = rows[i * per : (i + 1) * per]
            counts = _summed(row[0::3])
            out.append(
                HistoryBucket(
                    start_ms=n * width,
                    completed=counts.get("completed", 0),
                    failed=counts.get("failed", 0),
                    waits=bucket_counts(_summed(row[1::3]), len(WAIT_BUCKETS) + 1),
                    runtimes=runtime_counts(_summed(row[2::3])),
                )
            )
        return out
