"""The service layer: every operator action, whoever asks (API, console, admin, CLI).

Each function validates its input, acts through the broker and returns what happened;
the API, the console and the management commands all call these, so one action
behaves the same everywhere.
"""

from .broker.keys import validate_queue_name
from .client import get_broker
from .errors import InvalidTransition
from .inspect import get_task
from .records import TaskRecord
from .status import RETRYABLE, TERMINAL


def cancel(task_id: str) -> str:
    """Cancel a pending or scheduled task ('cancelled'), or ask a running one to stop
    ('requested'). InvalidTransition for a finished task."""
    record = get_task(task_id)
    outcome, _ = get_broker().cancel(record.queue, record.id)
    return outcome


def retry(task_id: str) -> TaskRecord:
    """Send a dead or cancelled task back to pending."""
    record = get_task(task_id)
    (before,) = get_broker().requeue(record.queue, [record.id])
    if before not in RETRYABLE:
        raise InvalidTransition(record.id, "retry", before)
    return get_task(task_id)


def delete(task_id: str) -> None:
    """Delete a finished (completed, dead or cancelled) task's record."""
    record = get_task(task_id)
    (before,) = get_broker().delete(record.queue, [record.id])
    if before not in TERMINAL:
        raise InvalidTransition(record.id, "delete", before)


def purge_queue(queue: str) -> int:
    """Delete every pending task of a queue; returns how many."""
    return get_broker().purge_pending(validate_queue_name(queue))


def pause(queue: str) -> bool:
    """Stop workers claiming from a queue; returns whether it was paused already."""
    return get_broker().set_paused(validate_queue_name(queue), True)


def resume(queue: str) -> bool:
    """Let workers claim from a queue again; returns whether it was paused."""
    return get_broker().set_paused(validate_queue_name(queue), False)
