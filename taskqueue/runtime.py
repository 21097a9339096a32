"""Task runtime histograms (for Prometheus): bucket bounds and the records read back.

Workers add each finished attempt's runtime to its queue's `runtime` hash (see
broker/keys.py) in batches, off the hot path; `/metrics` reads them back.
"""

import bisect
from collections import Counter
from dataclasses import dataclass

from .text import as_text

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


def parse(raw: dict[str, int]) -> list[Histogram]:
    """Histograms from a queue's runtime hash (its values already whole numbers), one
    per task name. Names come from records anyone can write: one that is not UTF-8 is
    shown with \\xNN escapes (a label must be text), and fields that end up under the
    same name are added up."""
    per_task: dict[str, Counter] = {}
    for field, value in raw.items():
        task, _, part = field.rpartition("|")
        if task:
            per_task.setdefault(as_text(task), Counter())[part] += value
    out = []
    for task, parts in sorted(per_task.items()):
        running, buckets = 0, []
        for i, bound in enumerate((*BUCKETS, float("inf"))):
            running += parts.get(f"b{i}", 0)
            buckets.append((bound, running))
        out.append(Histogram(task, buckets, parts.get("sum_ms", 0) / 1000, parts.get("count", 0)))
    return out
