"""What the API returns for tasks, queues and workers: plain JSON-ready dicts."""

from taskqueue.inspect import Page, QueueSummary
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


def queue_dict(summary: QueueSummary, *, per_minute: bool = False) -> dict:
    counts = summary.counts
    out = {
        "name": counts.queue,
        "paused": counts.paused,
        "counts": {status: getattr(counts, status) for status in COUNTED},
        "stats": dict(counts.stats),
        "throughput": {
            "completed_last_minute": summary.completed_last_minute,
            "failed_last_minute": summary.failed_last_minute,
            "completed_last_hour": summary.completed_last_hour,
            "failed_last_hour": summary.failed_last_hour,
        },
        "oldest_pending_age_s": summary.oldest_pending_age_s,
        "damaged": [damage_dict(d) for d in counts.damaged],
    }
    if per_minute:
        out["per_minute"] = summary.per_minute
    return out
