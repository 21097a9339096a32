"""The broker's counter hashes, typed: a queue's lifetime statistics (QueueStats), its
completed and failed of one minute (MinuteCounts), the global workflow counters
(WorkflowCounters) and the histograms of waits and runtimes (BucketCounts). The scripts
write them by field name (common.lua's add, count_minute and count_waits,
record_runtimes.lua; workflow_ops.py the workflow ones); only the broker reads and
writes them by name, the rest of the product reads attributes.

Anyone can write into a hash: a field that is none of these is ignored, and a value
that is not a whole number reads as 0, as a missing field does. `as_dict()` gives the
fields the hash held, in the order Redis answered them, as the JSON API has always
shown them (a field never written is absent there, not 0); for a value built by hand,
its fields that are not 0."""

import operator
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Self


class _Counters:
    """What the counter types share: building one from a hash's counts, and as_dict."""

    __slots__ = ()

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The hash fields this type has, in declared order."""
        return tuple(f.name for f in fields(cls) if f.name != "present")

    @classmethod
    def of(cls, counts: Mapping[str, int]) -> Self:
        """From a hash's whole-number counts (what does not parse already left out):
        the known fields, and which of them were there."""
        known = set(cls.names())
        found = {name: n for name, n in counts.items() if name in known}
        return cls(**found, present=tuple(found))

    def as_dict(self) -> dict[str, int]:
        present = self.present
        if present is None:
            present = [name for name in self.names() if getattr(self, name)]
        return {name: getattr(self, name) for name in present}


@dataclass(frozen=True, slots=True)
class QueueStats(_Counters):
    """A queue's lifetime counters (its sub-queues added up): the fields of its stats
    hash, as the scripts name them."""

    enqueued: int = 0  # tasks created (enqueue_tasks)
    completed: int = 0  # complete_tasks
    failed: int = 0  # failed attempts, retried or not (fail_task)
    retried: int = 0  # failed attempts scheduled for another try (fail_task)
    dead: int = 0  # moved to the dead letters (fail_task, reap_leases)
    cancelled: int = 0  # cancel_task, cancel_nodes, finish_cancelled
    lost: int = 0  # leases that expired (reap_leases)
    quarantined: int = 0  # keys of the wrong type moved aside (quarantine_keys)
    requeued: int = 0  # requeue_tasks
    purged: int = 0  # purge_pending
    orphans: int = 0  # pending entries without a record, dropped (claim_tasks)
    dead_trimmed: int = 0  # dead letters dropped by age or count (trim_dead)
    present: tuple[str, ...] | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class MinuteCounts(_Counters):
    """One minute of a queue (count_minute): attempts that completed, that failed."""

    completed: int = 0
    failed: int = 0
    present: tuple[str, ...] | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class WorkflowCounters(_Counters):
    """Lifetime counts of workflows (one global hash): submitted, all tasks completed."""

    created: int = 0
    completed: int = 0
    present: tuple[str, ...] | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class BucketCounts:
    """A histogram hash (history.py's waits, a task's runtimes: codec.py names their
    fields): `counts[i]` observations in bucket i, the one after the last bound counting
    those above it (the bounds are the reader's: WAIT_BUCKETS, runtime.BUCKETS), 0 past
    the end of `counts`; `sum_ms` their total in ms, None where none is kept (the
    waits); `count` how many (kept by the runtimes). Values are what Redis holds, below
    0 included: a reader clamps where it needs to. Histograms add up with `+`."""

    counts: tuple[int, ...] = ()
    sum_ms: int | None = None
    count: int = 0

    @classmethod
    def observation(cls, bucket: int, ms: int) -> Self:
        """One observation of `ms` milliseconds, in bucket `bucket`."""
        return cls((0,) * bucket + (1,), ms, 1)

    def padded(self, size: int) -> tuple[int, ...]:
        """The counts of the first `size` buckets (0 for those past `counts`)."""
        return (self.counts + (0,) * size)[:size]

    def __add__(self, other: "BucketCounts") -> "BucketCounts":
        longer, shorter = sorted((self.counts, other.counts), key=len, reverse=True)
        counts = (*map(operator.add, longer, shorter), *longer[len(shorter) :])
        a, b = self.sum_ms, other.sum_ms
        sum_ms = b if a is None else a if b is None else a + b
        return BucketCounts(counts, sum_ms, self.count + other.count)
