"""Task runtime histograms (for Prometheus): bucket bounds and the records read back.

Workers add each finished attempt's runtime (`parts`) to its queue's histograms in
batches, off the hot path; `/metrics` reads them back (`histograms`).
"""

import bisect
from collections import Counter
from dataclasses import dataclass

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


def parts(seconds: float) -> list[tuple[str, int]]:
    """What one attempt of `seconds` adds to its task's histogram: (part, n) each."""
    return [(f"b{bucket_of(seconds)}", 1), ("sum_ms", int(seconds * 1000)), ("count", 1)]


def histograms(counts: Counter) -> list[Histogram]:
    """Histograms from (task, part) -> n, one per task name."""
    per_task: dict[str, Counter] = {}
    for (task, part), value in counts.items():
        per_task.setdefault(task, Counter())[part] += value
    out = []
    for task, parts in sorted(per_task.items()):
        running, buckets = 0, []
        for i, bound in enumerate((*BUCKETS, float("inf"))):
            running += parts.get(f"b{i}", 0)
            buckets.append((bound, running))
        out.append(Histogram(task, buckets, parts.get("sum_ms", 0) / 1000, parts.get("count", 0)))
    return out
