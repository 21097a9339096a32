"""Task runtime histograms (for Prometheus): bucket bounds and the records read back.

Workers add each finished attempt's runtime (its `bucket_of`) to its queue's histograms
in batches, off the hot path; `/metrics` reads them back (`histograms`).
"""

import bisect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .broker.counters import BucketCounts

# Upper bounds in seconds; the last bucket is +Inf.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


def bucket_of(seconds: float) -> int:
    """Index of the first bucket whose bound is >= seconds (len(BUCKETS) for +Inf)."""
    return bisect.bisect_left(BUCKETS, seconds)


@dataclass(frozen=True, slots=True)
class Histogram:
    task: str
    buckets: list[tuple[float, int]]  # (upper bound, cumulative count); the last is +Inf
    sum_seconds: float
    count: int


def histograms(per_task: Mapping[str, "BucketCounts"]) -> list[Histogram]:
    """Histograms from the broker's, one per task name."""
    out = []
    for task, h in sorted(per_task.items()):
        running, buckets = 0, []
        for bound, n in zip((*BUCKETS, float("inf")), h.padded(len(BUCKETS) + 1), strict=True):
            running += n
            buckets.append((bound, running))
        out.append(Histogram(task, buckets, (h.sum_ms or 0) / 1000, h.count))
    return out
