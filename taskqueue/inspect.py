"""The read-only inspection layer: what the API, the console and the CLI read through.
Nothing here changes state, and nothing here scans keys: counts are O(1) and lists
paginate with cursors."""

from dataclasses import dataclass

from .broker.keys import validate_queue_name
from .broker.redis_broker import Page, QueueCounts
from .client import get_broker
from .errors import TaskDoesNotExist, ValidationError
from .records import TaskRecord
from .status import Status

MAX_PAGE = 200


def get_task(task_id: str) -> TaskRecord:
    """The full record of a task, by id alone; TaskDoesNotExist if there is none."""
    if not isinstance(task_id, str) or not 0 < len(task_id) <= 64 or not task_id.isprintable():
        raise TaskDoesNotExist(str(task_id)[:64])
    record = get_broker().find(task_id)
    if record is None:
        raise TaskDoesNotExist(task_id)
    return record


def list_tasks(
    queue: str, status: Status | str | None = None, *, cursor: str | None = None, limit: int = 50
) -> Page:
    """A page of a queue's tasks: by status (in run order for pending, scheduled and
    processing; newest first for the others), or all statuses newest first."""
    validate_queue_name(queue)
    if status is not None:
        try:
            status = Status(status)
        except ValueError:
            allowed = ", ".join(s.value for s in Status)
            raise ValidationError(
                f"status {status!r} is not one of {allowed}.", field="status"
            ) from None
    if type(limit) is not int or not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"limit must be an integer from 1 to {MAX_PAGE}.", field="limit")
    return get_broker().list_tasks(queue, status, cursor=cursor, limit=limit)


@dataclass(frozen=True, slots=True)
class QueueSummary:
    counts: QueueCounts
    oldest_pending_age_s: float | None
    completed_last_minute: int
    failed_last_minute: int
    completed_last_hour: int
    failed_last_hour: int


def queue_summary(queue: str) -> QueueSummary:
    broker = get_broker()
    validate_queue_name(queue)
    now = broker.time_ms()
    oldest = broker.oldest_pending_ms(queue)
    minutes = broker.per_minute(queue, 60, now_ms=now)
    return QueueSummary(
        counts=broker.counts(queue),
        oldest_pending_age_s=None if oldest is None else max(0.0, (now - oldest) / 1000),
        completed_last_minute=minutes[-1].get("completed", 0),
        failed_last_minute=minutes[-1].get("failed", 0),
        completed_last_hour=sum(m.get("completed", 0) for m in minutes),
        failed_last_hour=sum(m.get("failed", 0) for m in minutes),
    )


def queues() -> list[str]:
    return get_broker().known_queues()
