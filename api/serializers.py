"""What the API returns for tasks, queues, limits and workers: plain JSON-ready dicts."""

from taskqueue.flow import QueueLimits
from taskqueue.inspect import Page, QueueSummary
from taskqueue.limits import Rate
from taskqueue.masking import mask_secrets
from taskqueue.records import TaskRecord
from taskqueue.text import as_text

COUNTED = ("waiting", "pending", "scheduled", "processing", "completed", "dead", "cancelled")


MASKED = ("args", "kwargs", "result", "progress")


def task_dict(record: TaskRecord) -> dict:
    """The record, with values under secret-looking keys masked as in the console
    (taskqueue/masking.py): a read scope is not a licence to read passwords."""
    out = record.to_dict()
    for name in MASKED:
        out[name] = mask_secrets(out[name])
    return out


def page_dict(page: Page) -> dict:
    """A page; `damaged` names the records it skipped because they are not hashes."""
    return {
        "items": [task_dict(r) for r in page.items],
        "next_cursor": page.next_cursor,
        "damaged": [as_text(key) for key in page.damaged],
    }


def damage_dict(damage) -> dict:
    return {"key": as_text(damage.key), "type": damage.found, "expected": damage.expected}


def queue_dict(summary: QueueSummary, limits: QueueLimits, *, per_minute: bool = False) -> dict:
    counts = summary.counts
    out = {
        "name": counts.queue,
        "paused": counts.paused,
        "counts": {status: getattr(counts, status) for status in COUNTED},
        "stats": counts.stats.as_dict(),
        "throughput": {
            "completed_last_minute": summary.completed_last_minute,
            "failed_last_minute": summary.failed_last_minute,
            "completed_last_hour": summary.completed_last_hour,
            "failed_last_hour": summary.failed_last_hour,
        },
        "oldest_pending_age_s": summary.oldest_pending_age_s,
        "damaged": [damage_dict(d) for d in counts.damaged],
        "limits": limits_summary(limits),
    }
    if per_minute:
        out["per_minute"] = [m.as_dict() for m in summary.per_minute]
    return out


def limits_summary(limits: QueueLimits) -> dict:
    """Whether any limit is in force in the queue, the tasks they hold back, and
    whether one of them lets nothing start right now."""
    return {
        "limited": limits.limited,
        "held": limits.held,
        "throttled": any(scope.throttled for scope in limits.all()),
    }


def limits_dict(limits: QueueLimits) -> dict:
    """GET /queues/{name}/limits: the queue's own limits (null: none set or declared),
    each task name's that has any, and each tenant's ("*": the limit every tenant has)."""
    return {
        "queue": limits.queue,
        "limits": {
            "queue": scope_dict(limits.own) if limits.own else None,
            "tasks": {name: scope_dict(scope) for name, scope in limits.tasks.items()},
            "tenants": {name: scope_dict(scope) for name, scope in limits.tenants.items()},
        },
        "held": limits.held,
    }


def scope_dict(scope) -> dict:
    """One scope's limits (a taskqueue.flow ScopeLimits; None: a scope with none): the
    ones in force, the declared ones, the operator's (`override`: null when none is
    set; else the PUT body that would set it: a kind present is the operator's, null
    meaning no limit, a kind absent follows the declared value), and what they hold."""
    if scope is None:
        return {**rate_parts(None), "concurrency": None, "declared": limit_parts(None, None),
                "override": None, "held": 0, "running": 0, "throttled": False}  # fmt: skip
    return {
        **rate_parts(scope.rate),
        "concurrency": scope.concurrency,
        "declared": limit_parts(scope.declared.rate, scope.declared.concurrency),
        "override": override_dict(scope),
        "held": scope.held,
        "running": scope.running,
        "throttled": scope.throttled,
    }


def override_dict(scope) -> dict | None:
    if not scope.overridden:
        return None
    out = {}
    if scope.override_rate is not None:  # '' is "no limit"; the rate in force is it
        out |= rate_parts(scope.rate) if scope.rate else {"rate": None}
    if scope.override_concurrency is not None:
        out["concurrency"] = scope.concurrency
    return out


def limit_parts(rate: Rate | None, concurrency: int | None) -> dict:
    return {**rate_parts(rate), "concurrency": concurrency}


def rate_parts(rate: Rate | None) -> dict:
    return {"rate": str(rate) if rate else None, "burst": rate.burst if rate else None}
