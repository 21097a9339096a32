"""The Prometheus collector behind /metrics.

Nothing is kept between scrapes: each scrape reads the queues' counts, lifetime
counters and runtime histograms through the inspection layer into a fresh collector,
so several web processes all report the same numbers (Redis holds them).

Tenants (docs/flow-control.md#tenants): `taskqueue_tenants{queue}` counts a queue's
tenants with unfinished tasks and `taskqueue_tenant_backlog{queue,tenant}` is the
backlog of its TOP_TENANTS largest only, so a queue with 100,000 tenants still adds
at most TOP_TENANTS series (one read of the tenants per queue).

Wait times (enqueue or due time -> start) come from the queues' per-minute wait
histograms (taskqueue/history.py), which expire: a lifetime counter cannot be built
from them, so `taskqueue_queue_wait_seconds{queue,quantile}` is a gauge of the
percentiles over the last WAIT_WINDOW_MINUTES minutes, computed here. Flow control:
`taskqueue_limit_held_tasks` and `taskqueue_limit_throttled` by scope kind (queue,
task, tenant), never by tenant name. Workers by state: `taskqueue_worker_states` and
`taskqueue_worker_slots` (busy / idle) over the live workers; `taskqueue_queue_workers`
counts the live workers serving each queue (the alert "backlog and no worker").
"""

from collections.abc import Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from taskqueue import flow, inspect
from taskqueue.status import Status
from taskqueue.text import as_text
from taskqueue.workers import STATES as WORKER_STATES

# Lifetime counters of each queue (attributes of QueueStats) -> what they count.
COUNTERS = {
    "enqueued": "Tasks created.",
    "completed": "Tasks that completed.",
    "failed": "Failed attempts (retried or not).",
    "retried": "Failed attempts scheduled for another try.",
    "dead": "Tasks moved to the dead-letter queue.",
    "cancelled": "Tasks cancelled.",
    "lost": "Leases that expired (their worker stopped heartbeating).",
}
TOP_TENANTS = 20  # tenant_backlog series per queue at most (label cardinality)
# Lifetime workflow counters (attributes of WorkflowCounters) -> what they count.
WORKFLOW_COUNTERS = {
    "created": "Workflows submitted.",
    "completed": "Workflows whose every task completed.",
}


class TaskQueueCollector:
    def read(self) -> None:
        """Read everything up front (so a Redis error is raised before any output)."""
        names = inspect.queues()
        self.summaries = [inspect.queue_summary(q) for q in names]
        self.histograms = {q: inspect.runtime_histograms(q) for q in names}
        self.tenants = {q: flow.tenant_backlogs(q, top=TOP_TENANTS) for q in names}
        self.waits = [inspect.recent_waits(q) for q in names]
        self.limits = {q: flow.queue_limits(q) for q in names}
        self.workers = inspect.workers()
        self.global_damage, self.global_quarantined = inspect.global_damage()
        # one HGETALL; taskqueue.inspect has no reader of these counters (yet)
        self.workflow_counters = inspect.workflow_counters()
        self.blocked_workflows = inspect.blocked_workflows()

    def collect(self) -> Iterator[Metric]:
        yield self._depth()
        yield self._gauge("paused", "1 while the queue is paused.", lambda s: s.counts.paused)
        yield self._gauge(
            "oldest_pending_age_seconds",
            "Age of the queue's longest-waiting pending task (0 when none waits).",
            lambda s: s.oldest_pending_age_s or 0,
        )
        for stat, documentation in COUNTERS.items():
            counter = CounterMetricFamily(
                f"taskqueue_tasks_{stat}", documentation, labels=["queue"]
            )
            for s in self.summaries:
                counter.add_metric([s.name], getattr(s.counts.stats, stat))
            yield counter
        yield self._runtimes()
        yield from self._waits()
        yield from self._limits()
        yield from self._tenants()
        yield self._workers()
        yield from self._worker_states()
        yield self._queue_workers()
        yield self._quarantined()
        yield self._damaged()
        yield from self._workflows()

    def _depth(self) -> Metric:
        gauge = GaugeMetricFamily(
            "taskqueue_queue_tasks", "Tasks in the queue, by status.", labels=["queue", "status"]
        )
        for s in self.summaries:
            for status in Status:
                gauge.add_metric([s.name, status.value], getattr(s.counts, status.value))
        return gauge

    def _gauge(self, name: str, documentation: str, value) -> Metric:
        gauge = GaugeMetricFamily(f"taskqueue_queue_{name}", documentation, labels=["queue"])
        for s in self.summaries:
            gauge.add_metric([s.name], float(value(s)))
        return gauge

    def _runtimes(self) -> Metric:
        family = HistogramMetricFamily(
            "taskqueue_task_runtime_seconds",
            "Run time of finished attempts, by queue and task name.",
            labels=["queue", "task"],
        )
        for queue, histograms in self.histograms.items():
            for h in histograms:
                buckets = [(_bound(bound), count) for bound, count in h.buckets]
                family.add_metric([queue, h.task], buckets, h.sum_seconds)
        return family

    def _tenants(self) -> Iterator[Metric]:
        count = GaugeMetricFamily(
            "taskqueue_tenants", "Tenants with unfinished tasks in the queue.", labels=["queue"]
        )
        backlog = GaugeMetricFamily(
            "taskqueue_tenant_backlog",
            f"Unfinished tasks of a tenant in the queue: the queue's {TOP_TENANTS} largest "
            "tenants only.",
            labels=["queue", "tenant"],
        )
        for queue, tenants in self.tenants.items():
            count.add_metric([queue], tenants.tenants)
            for tenant, n in tenants.top:
                backlog.add_metric([queue, as_text(tenant)], n)
        yield count
        yield backlog

    def _workers(self) -> Metric:
        gauge = GaugeMetricFamily(
            "taskqueue_workers", "Registered workers: live, or lost (silent).", labels=["state"]
        )
        lost = sum(w.lost for w in self.workers)
        gauge.add_metric(["live"], len(self.workers) - lost)
        gauge.add_metric(["lost"], lost)
        return gauge

    def _waits(self) -> Iterator[Metric]:
        window = inspect.WAIT_WINDOW_MINUTES
        quantiles = GaugeMetricFamily(
            "taskqueue_queue_wait_seconds",
            f"Wait from ready (enqueued, or due) to start of the tasks the queue started in "
            f"the last {window} minutes: percentiles (absent when none started).",
            labels=["queue", "quantile"],
        )
        started = GaugeMetricFamily(
            "taskqueue_queue_started_recent",
            f"Tasks the queue started in the last {window} minutes (attempts, retries too).",
            labels=["queue"],
        )
        for w in self.waits:
            started.add_metric([w.queue], w.started)
            for q, seconds in w.quantiles.items():
                quantiles.add_metric([w.queue, repr(q)], seconds)
        yield quantiles
        yield started

    def _limits(self) -> Iterator[Metric]:
        held = GaugeMetricFamily(
            "taskqueue_limit_held_tasks",
            "Tasks held back by flow-control limits, by the kind of limit holding them "
            "(queue, task, tenant).",
            labels=["queue", "scope"],
        )
        throttled = GaugeMetricFamily(
            "taskqueue_limit_throttled",
            "Limits that let no task start now (rate used up, or every concurrency slot "
            "taken), by kind (queue, task, tenant).",
            labels=["queue", "scope"],
        )
        for queue, limits in self.limits.items():
            for scope, scopes in _by_kind(limits).items():
                held.add_metric([queue, scope], sum(s.held for s in scopes))
                throttled.add_metric([queue, scope], sum(s.throttled for s in scopes))
        yield held
        yield throttled

    def _worker_states(self) -> Iterator[Metric]:
        live = [w for w in self.workers if not w.lost]
        states = GaugeMetricFamily(
            "taskqueue_worker_states",
            "Live workers by state (running, quiet: claims nothing, stopping).",
            labels=["state"],
        )
        for state in WORKER_STATES:
            states.add_metric([state], sum(w.state == state for w in live))
        slots = GaugeMetricFamily(
            "taskqueue_worker_slots",
            "Task slots of the live workers: busy (running a task) or idle.",
            labels=["state"],
        )
        busy = sum(max(0, w.in_flight) for w in live)
        slots.add_metric(["busy"], busy)
        slots.add_metric(["idle"], max(0, sum(max(0, w.concurrency) for w in live) - busy))
        yield states
        yield slots

    def _queue_workers(self) -> Metric:
        gauge = GaugeMetricFamily(
            "taskqueue_queue_workers",
            "Live workers that serve the queue (0: its tasks wait for nobody).",
            labels=["queue"],
        )
        live = [set(w.queues) for w in self.workers if not w.lost]
        for s in self.summaries:
            gauge.add_metric([s.name], sum(s.name in queues for queues in live))
        return gauge

    def _quarantined(self) -> Metric:
        counter = CounterMetricFamily(
            "taskqueue_keys_quarantined",
            "Keys of the wrong type moved out of the way (task records, a queue's own keys; "
            'queue="" for global keys), kept aside for a week.',
            labels=["queue"],
        )
        for s in self.summaries:
            counter.add_metric([s.name], s.counts.stats.quarantined)
        counter.add_metric([""], self.global_quarantined)
        return counter

    def _damaged(self) -> Metric:
        gauge = GaugeMetricFamily(
            "taskqueue_damaged_keys",
            "1 for each key of the wrong type now in place (read as empty; the next script "
            "to touch it moves it aside).",
            labels=["queue", "key"],
        )
        for s in self.summaries:
            for d in s.counts.damaged:
                gauge.add_metric([s.name, as_text(d.key)], 1)
        for d in self.global_damage:
            gauge.add_metric(["", as_text(d.key)], 1)
        return gauge

    def _workflows(self) -> Iterator[Metric]:
        for stat, documentation in WORKFLOW_COUNTERS.items():
            value = getattr(self.workflow_counters, stat)
            yield CounterMetricFamily(f"taskqueue_workflows_{stat}", documentation, value=value)
        yield GaugeMetricFamily(
            "taskqueue_workflows_blocked",
            "Workflows blocked by a dead task, among the newest "
            f"{inspect.WORKFLOW_SCAN:,} workflows.",
            value=self.blocked_workflows,
        )


def _by_kind(limits: flow.QueueLimits) -> dict[str, list]:
    """A queue's limit scopes by kind: its own, its task names', its tenants'."""
    return {
        "queue": [limits.own] if limits.own else [],
        "task": list(limits.tasks.values()),
        "tenant": list(limits.tenants.values()),
    }


def _bound(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)
