"""What the API returns for tasks, queues and workers: plain JSON-ready dicts."""

from taskqueue.broker import Page
from taskqueue.inspect import QueueSummary
from taskqueue.records import TaskRecord

COUNTED = ("pending", "scheduled", "processing", "completed", "dead", "cancelled")


def task_dict(record: TaskRecord) -> dict:
    return record.to_dict()


def page_dict(page: Page) -> dict:
    return {"items": [task_dict(r) for r in page.items], "next_cursor": page.next_cursor}


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
    }
    if per_minute:
        out["per_minute"] = summary.per_minute
    return out
