"""The console's live fragments: the partial templates that both the page views and the
WebSocket relay render, and what each one needs.

A page marks each live element with `data-live="<kind>:<key>"` (and an id built from
the domain id: `queue-<name>`, `task-<id>`). The browser sends those markers to the
WebSocket; the relay re-renders an element when an event concerns it and pushes the
HTML, which htmx swaps by id. Rendering reads only through taskqueue.inspect (and a
queue's flow-control limits and tenants' backlogs through taskqueue.flow).
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, partial
from types import SimpleNamespace

from django.template.loader import render_to_string

from taskqueue import flow, inspect
from taskqueue.errors import QueueDoesNotExist, TaskDoesNotExist
from taskqueue.flow import QueueLimits
from taskqueue.registry import registry
from taskqueue.workers import LOST_AFTER_S

from . import health
from . import workflow_fragments as wf
from .charts import minute_chart


def queue_limits(name: str) -> QueueLimits | None:
    """The queue's flow-control limits and what they hold back: one read (None for a
    queue that is not there)."""
    try:
        return flow.queue_limits(name)
    except QueueDoesNotExist:
        return None


TOP_TENANTS = 20  # tenants the queue page lists; the rest are counted


def tenants_context(name: str, limits: QueueLimits | None = None) -> dict:
    """The queue page's Tenants block: the tenants with the largest backlogs, how many
    have unfinished tasks, and the tenant quota (`limits` when read already). One
    read of the tenants; the quota only when there are some."""
    try:
        backlogs = flow.tenant_backlogs(name, top=TOP_TENANTS)
    except QueueDoesNotExist:
        backlogs = None
    quota = None
    if backlogs is not None and backlogs.tenants:
        limits = limits if limits is not None else queue_limits(name)
        quota = limits.tenant_backlog if limits is not None else None
    rest = backlogs.tenants - len(backlogs.top) if backlogs else 0
    return {"tenants_queue": name, "tenant_backlogs": backlogs, "tenant_quota": quota,
            "tenants_not_listed": rest}  # fmt: skip


def limits_line(limits: QueueLimits | None) -> SimpleNamespace | None:
    """What a queue card or header says of the queue's limits, 'limited: 200/s · 3 at
    once · 1,240 held', and whether it is throttled now (its own limits let no task
    start, or tasks are held back); None for a queue without limits that holds nothing."""
    if limits is None or not (limits.limited or limits.held):
        return None
    own, parts = limits.own, []
    if own is not None and own.rate is not None:
        parts.append(str(own.rate))
    if own is not None and own.concurrency is not None:
        parts.append(f"{own.concurrency:,} at once")
    per_task = sum(1 for s in limits.tasks.values() if s.rate or s.concurrency)
    if per_task:
        parts.append(f"{per_task} task limit{'s' if per_task != 1 else ''}")
    per_tenant = sum(1 for s in limits.tenants.values() if s.rate or s.concurrency)
    if per_tenant:
        parts.append(f"{per_tenant} tenant limit{'s' if per_tenant != 1 else ''}")
    if limits.held:
        parts.append(f"{limits.held:,} held")
    throttled = bool(limits.held) or (own is not None and own.throttled)
    return SimpleNamespace(text=" · ".join(parts), throttled=throttled)


def limit_task_names(name: str, limits: QueueLimits | None) -> list[str]:
    """Task names to offer in the limit form: those with limits, and those this
    process knows to be declared for the queue."""
    declared = {t.name for t in registry if t.options.queue == name}
    return sorted(declared | set(limits.tasks if limits else ()))


class QueueCard(SimpleNamespace):
    """A queue card's data. Its limits are read when the card shows them (the totals
    use the same cards and never do)."""

    @cached_property
    def limits(self) -> SimpleNamespace | None:
        return limits_line(queue_limits(self.name))


def queue_card(name: str) -> QueueCard:
    """One queue's summary with its chart, as the overview card shows it."""
    summary = inspect.queue_summary(name)
    return QueueCard(
        name=summary.name,
        counts=summary.counts,
        oldest_pending_age_s=summary.oldest_pending_age_s,
        chart=minute_chart(summary.per_minute),
        summary=summary,
    )


def totals(cards: list[SimpleNamespace], workers: list) -> dict:
    def total(attr: str) -> int:
        return sum(getattr(c.counts, attr) for c in cards)

    return {
        "pending": total("pending"),
        "scheduled": total("scheduled"),
        "processing": total("processing"),
        "dead": total("dead"),
        "completed_last_hour": sum(c.summary.completed_last_hour for c in cards),
        "failed_last_hour": sum(c.summary.failed_last_hour for c in cards),
        "workers_online": sum(not w.lost for w in workers),
        "workers_lost": sum(w.lost for w in workers),
    }


def overview_context(names: list[str] | None = None) -> dict:
    """The cards of `names` (None: every queue) and their totals."""
    cards = [queue_card(name) for name in (inspect.queues() if names is None else names)]
    return {"summaries": cards, "totals": totals(cards, inspect.workers())}


def find_task(task_id: str):
    try:
        return inspect.get_task(task_id)
    except TaskDoesNotExist:
        return None


TABS = (
    ("pending", "Pending", "pending"),
    ("scheduled", "Scheduled", "scheduled"),
    ("waiting", "Waiting", "waiting"),  # workflow tasks waiting for their parents
    ("processing", "In flight", "processing"),
    ("completed", "Completed", "completed"),
    ("dead", "Dead", "dead"),
    ("cancelled", "Cancelled", "cancelled"),
)


def queue_counts(name: str, limits: QueueLimits | None = None) -> SimpleNamespace:
    """A queue's counts, its status tabs (status, label, count) and its limits line, for
    its page header (`limits` when read already)."""
    counts = inspect.queue_counts(name)
    tabs = [(status, label, getattr(counts, attr)) for status, label, attr in TABS]
    line = limits_line(limits if limits is not None else queue_limits(name))
    return SimpleNamespace(name=name, counts=counts, tabs=tabs, limits=line)


def limits_context(name: str, limits: QueueLimits | None = None) -> dict:
    """The queue page's Limits table: the queue's own limits, each task name's and each
    tenant's, and its quotas (`limits_now`)."""
    limits = limits if limits is not None else queue_limits(name)
    return {"limits_queue": name, "limit_rows": shown_scopes(limits), "limits_now": limits}


def shown_scopes(limits: QueueLimits | None) -> list:
    """The scopes the table shows: those with a limit, an operator's value, or tasks
    held or running (a worker writes an empty limit for each task it knows)."""
    if limits is None:
        return []
    return [
        s for s in limits.all() if s.rate or s.concurrency or s.overridden or s.held or s.running
    ]


@dataclass(frozen=True, slots=True)
class Kind:
    """A kind of live element: its partial and the context it is rendered with."""

    template: str
    context: Callable[[str], dict]
    key: str  # what the key names: "queue", "task", "workflow" or "all" (one per page)
    on_own_event: bool = False  # its queue (or its task) had an event
    on_any_event: bool = False  # any queue had an event
    periodic: bool = False  # shows times or workers: refreshed every few seconds
    row: bool = False  # a table row: parsed apart from other elements (see below)


def workflow_part(part: str, context: Callable[[str], dict]) -> Kind:
    """An element of a workflow's page. Its tasks may be in any queue: it follows every
    queue's events, and the periodic refresh catches what no event announces."""
    return Kind(f"dashboard/workflow.html#workflow-{part}", context, key="workflow",
                on_any_event=True, periodic=True)  # fmt: skip


KINDS: dict[str, Kind] = {
    "queue-card": Kind(
        "dashboard/overview.html#queue-card",
        lambda name: {"s": queue_card(name)},
        key="queue",
        on_own_event=True,
        periodic=True,
    ),
    "totals": Kind(
        "dashboard/overview.html#totals",
        lambda _: {"totals": overview_context()["totals"]},
        key="all",
        on_any_event=True,
        periodic=True,
    ),
    "queue-header": Kind(
        "dashboard/queue.html#queue-header",
        lambda name: {"q": queue_counts(name)},
        key="queue",
        on_own_event=True,
        periodic=True,  # "throttled" comes and goes with time
    ),
    "queue-limits": Kind(
        "dashboard/_limits.html#queue-limits",
        limits_context,
        key="queue",
        on_own_event=True,
        periodic=True,
    ),
    "queue-tenants": Kind(
        "dashboard/_tenants.html#queue-tenants",
        tenants_context,
        key="queue",
        on_own_event=True,
    ),
    "task-row": Kind(
        "dashboard/_rows.html#task-row",
        lambda task_id: {"t": find_task(task_id), "task_id": task_id},
        key="task",
        on_own_event=True,
        row=True,
    ),
    "task-panel": Kind(
        "dashboard/task_detail.html#task-panel",
        lambda task_id: {"task": find_task(task_id), "task_id": task_id},
        key="task",
        on_own_event=True,
    ),
    "task-running": Kind(
        "dashboard/task_detail.html#task-running",
        lambda task_id: {"task": find_task(task_id), "task_id": task_id},
        key="task",
        on_own_event=True,  # new progress is an event (renew_leases.lua)
        periodic=True,
    ),
    "workers": Kind(
        "dashboard/workers.html#workers-table",
        lambda _: {"workers": inspect.workers(), "lost_after": LOST_AFTER_S},
        key="all",
        periodic=True,
    ),
    "dead-groups": Kind(
        "dashboard/dead.html#dead-groups",
        lambda _: {"groups": inspect.dead_groups()},
        key="all",
        on_any_event=True,
    ),
    # workflows (workflow_fragments.py)
    "workflows-blocked": Kind(
        "dashboard/overview.html#workflows-blocked", wf.blocked_context, key="all", periodic=True
    ),
    "workflow-row": Kind(
        "dashboard/_workflow_rows.html#workflow-row",
        wf.row_context,
        key="workflow",
        on_any_event=True,
        row=True,
    ),
    "workflow-summary": workflow_part("summary", wf.summary_context),
    "workflow-actions": workflow_part("actions", wf.summary_context),
    "workflow-graph": workflow_part("graph", wf.graph_context),
    "workflow-dead": workflow_part("dead", wf.dead_context),
    "task-workflows": Kind(
        "dashboard/_workflow_task.html",
        wf.task_context,
        key="task",
        on_own_event=True,
        periodic=True,
    ),
}

# Health at a glance and the Redis panel (health.py). The overview's warnings read every
# queue: refreshed every few seconds rather than on each event, as a queue's are.
KINDS["health"] = Kind("dashboard/_health.html#health", lambda _: health.overview_context(),
                       key="all", periodic=True)  # fmt: skip
KINDS["queue-health"] = Kind("dashboard/_health.html#queue-health", health.queue_context,
                             key="queue", on_own_event=True, periodic=True)  # fmt: skip
KINDS["redis"] = Kind("dashboard/_redis.html#redis-panel", health.redis_context, key="all",
                      periodic=True)  # fmt: skip


def render_fragment(kind: str, key: str, *, can_operate: bool) -> str:
    """The HTML of one live element, marked for an out-of-band swap."""
    spec = KINDS[kind]
    context = spec.context(key) | {"oob": True, "can_operate": can_operate, "live_key": key}
    return render_to_string(spec.template, context)


def response_fragment(kind: str, key: str, *, can_operate: bool) -> str:
    """A live element for an htmx response, next to other elements. A browser parses a
    bare <tr> after a <div> as text, so rows travel inside a <template> (htmx swaps
    out-of-band elements found in templates). The WebSocket relay instead sends rows
    in a message of their own."""
    html = render_fragment(kind, key, can_operate=can_operate)
    return f"<template>{html}</template>" if KINDS[kind].row else html


# The Charts page (docs/console.md#charts): one live element per range, of one queue
# ("history-24h:<queue>") or of every queue ("history-all-24h:all"; users limited to
# queues see theirs added up, not live). Refreshed every few seconds: the buckets change
# with every task, too often to re-render on each event.
def history_context(span: str, key: str, queues: list[str] | None = None) -> dict:
    """The Charts page's live element: of queue `key`, or of `queues` (None: every
    queue) when `key` is "all"."""
    every = key == "all"
    shown = (inspect.queues() if queues is None else queues) if every else [key]
    kind = f"history-all-{span}" if every else f"history-{span}"
    return {"h": inspect.history(shown, span), "live_kind": kind, "live_key": key}


for _span in ("1h", "24h", "7d"):
    for _kind, _key in ((f"history-{_span}", "queue"), (f"history-all-{_span}", "all")):
        KINDS[_kind] = Kind("dashboard/charts.html#history", partial(history_context, _span),
                            key=_key, periodic=True)  # fmt: skip
