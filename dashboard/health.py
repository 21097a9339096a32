"""Health at a glance: what the overview (and a queue's page) warns about, live.

- a queue with pending tasks that no live worker serves (taskqueue/unserved.py, as
  /health and the enqueue warning see it);
- a backlog and no live worker at all (one warning instead of one per queue);
- a queue whose oldest pending task has waited longer than
  CONSOLE_HEALTH["OLDEST_PENDING_SECONDS"] (default 300; None turns it off);
- a worker whose heartbeat is late: silent for more than two heartbeat intervals
  (LEASE_SECONDS / 3 each) but not yet lost; and the workers already lost.

And the Redis panel (operators): taskqueue.inspect.redis_server(), whose warnings are
safety.py's, plus one of ours: memory nearly at maxmemory.

Every read goes through taskqueue.inspect. The warnings are plain data (Alert); the
templates (templates/dashboard/_health.html, _redis.html) say them.
"""

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings

from taskqueue import inspect
from taskqueue.conf import get_config
from taskqueue.errors import TaskQueueError
from taskqueue.unserved import queues_without_worker
from taskqueue.workers import LOST_AFTER_S, WorkerInfo

DEFAULT_OLDEST_PENDING_S = 300.0  # a pending task waiting this long is worth a look
LATE_BEATS = 2  # heartbeat intervals a worker may miss before it is late
MAX_LATE_NAMED = 10  # late workers named one by one; the others are counted
MEMORY_WARN = 0.9  # of maxmemory: enqueues fail (noeviction) or keys go (eviction) at 1


@dataclass(frozen=True, slots=True)
class Alert:
    """One warning. `kind` picks its sentence: unserved, no-workers, waiting,
    late-worker, late-workers (those not named), lost-workers."""

    kind: str
    queue: str | None = None
    queues: tuple[str, ...] = ()  # no-workers: the queues with pending tasks
    count: int = 0  # pending tasks (no-workers), workers (late-workers, lost-workers)
    age_s: float | None = None  # waiting: the oldest pending age; late-worker: silence
    limit_s: float | None = None  # waiting: the threshold; late-worker: when it is late
    paused: bool = False  # waiting: the queue is paused
    worker: str = ""  # late-worker: its name (or id)


# -- the setting ----------------------------------------------------------------------


def problems(raw: object) -> list[str]:
    """What is wrong with settings.CONSOLE_HEALTH (check dashboard.E002)."""
    if not isinstance(raw, dict):
        return [f"CONSOLE_HEALTH must be a dict, not {type(raw).__name__}."]
    found = [f"Unknown key {key!r}: the one key is 'OLDEST_PENDING_SECONDS'."
             for key in raw if key != "OLDEST_PENDING_SECONDS"]  # fmt: skip
    value = raw.get("OLDEST_PENDING_SECONDS", DEFAULT_OLDEST_PENDING_S)
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if value is not None and not (number and math.isfinite(value) and value > 0):
        found.append(
            f"OLDEST_PENDING_SECONDS must be a number of seconds above 0, or None "
            f"(no warning), not {value!r}."
        )
    return found


def oldest_pending_limit() -> float | None:
    """Seconds the oldest pending task may wait before its queue is warned about (None:
    never); the default when the setting is malformed (its system check says so)."""
    raw = getattr(settings, "CONSOLE_HEALTH", {})
    if problems(raw):
        return DEFAULT_OLDEST_PENDING_S
    value = raw.get("OLDEST_PENDING_SECONDS", DEFAULT_OLDEST_PENDING_S)
    return None if value is None else float(value)


def late_after_s() -> float:
    """A worker silent this long has missed LATE_BEATS heartbeats (one per lease/3)."""
    return LATE_BEATS * get_config().LEASE_SECONDS / 3


# -- the warnings ---------------------------------------------------------------------


def queue_alerts(
    summaries: Sequence[inspect.QueueSummary], workers: Sequence[WorkerInfo]
) -> list[Alert]:
    """Warnings about these queues: unserved (or no live worker at all), waiting."""
    pending = {s.name: s.counts.pending for s in summaries}
    unserved = queues_without_worker(pending, workers)
    alerts = []
    if unserved and not any(not w.lost for w in workers):
        count = sum(pending[q] for q in unserved)
        alerts.append(Alert("no-workers", queues=tuple(unserved), count=count))
    else:
        alerts += [Alert("unserved", queue=q) for q in unserved]
    limit = oldest_pending_limit()
    for s in summaries:
        age = s.oldest_pending_age_s
        if limit is not None and age is not None and age > limit:
            alerts.append(Alert("waiting", queue=s.name, age_s=age, limit_s=limit,
                                paused=s.counts.paused))  # fmt: skip
    return alerts


def worker_alerts(workers: Iterable[WorkerInfo], now: datetime | None = None) -> list[Alert]:
    """Late workers, one warning each (the MAX_LATE_NAMED latest; the others counted),
    and the lost ones in one warning. The ages are
    on this web server's clock; `lost` is Redis's (the registry's) word."""
    now, late_after = now or datetime.now(UTC), late_after_s()
    alerts, lost = [], 0
    for w in workers:
        if w.lost:
            lost += 1
            continue
        age = (now - w.heartbeat_at).total_seconds() if w.heartbeat_at else None
        if age is not None and age > late_after:
            alerts.append(Alert("late-worker", worker=w.name or w.id, age_s=age,
                                limit_s=late_after))  # fmt: skip
    alerts.sort(key=lambda a: -(a.age_s or 0))
    if len(alerts) > MAX_LATE_NAMED:
        more = Alert("late-workers", count=len(alerts) - MAX_LATE_NAMED)
        alerts = [*alerts[:MAX_LATE_NAMED], more]
    if lost:
        alerts.append(Alert("lost-workers", count=lost))
    return alerts


def _summaries(names: Iterable[str]) -> list[inspect.QueueSummary]:
    return [inspect.queue_summary(name) for name in names]


def overview_context(
    summaries: Sequence[inspect.QueueSummary] | None = None,
    workers: Sequence[WorkerInfo] | None = None,
) -> dict:
    """The overview's warnings: about `summaries` (None: every queue, read now) and
    the workers that serve them (`workers`: all of them, read now when None)."""
    if summaries is None:
        summaries = _summaries(inspect.queues())
    if workers is None:
        workers = inspect.workers()
    alerts = queue_alerts(summaries, workers) + worker_alerts(workers)
    return {"health_alerts": alerts, **_explained()}


def queue_context(name: str) -> dict:
    """A queue page's warnings: its own, and those of the live workers that serve it."""
    workers = inspect.workers()
    own = [w for w in workers if name in w.queues]
    alerts = queue_alerts(_summaries([name]), workers)
    alerts += [a for a in worker_alerts(own) if a.kind == "late-worker"]
    return {"health_alerts": alerts, "health_queue": name, **_explained()}


def _explained() -> dict:
    return {"beat_s": get_config().LEASE_SECONDS / 3, "lost_after": LOST_AFTER_S}


# -- Redis at a glance ----------------------------------------------------------------


def redis_context(_: str = "all") -> dict:
    """The Redis panel: each node's status and warnings, or why it could not be read."""
    try:
        nodes = inspect.redis_server()
    except TaskQueueError as exc:
        return {"redis_nodes": [], "redis_error": str(exc)}
    return {"redis_nodes": [_with_memory(node) for node in nodes], "redis_error": None}


def _with_memory(node: inspect.RedisNode) -> dict:
    """A node, its share of maxmemory used, and its warnings (safety.py's, then the
    memory one)."""
    s, warnings = node.status, list(node.warnings)
    share = s.used_memory / s.maxmemory if s.used_memory is not None and s.maxmemory else None
    if share is not None and share >= MEMORY_WARN:
        then = ("enqueues fail" if s.maxmemory_policy == "noeviction"
                else "Redis evicts keys (task records among them)")  # fmt: skip
        warnings.append(f"memory is {share:.0%} of maxmemory: when it is full, {then}")
    percent = None if share is None else min(100.0, share * 100)
    return {"status": s, "warnings": warnings, "memory_percent": percent}
