"""Task statuses: one vocabulary for Redis, the API, the console and the audit trail.

There is no separate `failed` status: a task whose last allowed attempt failed (or that
has no retries configured) is `dead` and sits in the dead-letter queue, where it can be
inspected, retried or deleted. See docs/lifecycle.md.
"""

from enum import StrEnum


class Status(StrEnum):
    WAITING = "waiting"  # a workflow node whose parents have not all completed
    PENDING = "pending"
    SCHEDULED = "scheduled"
    PROCESSING = "processing"
    COMPLETED = "completed"
    DEAD = "dead"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({Status.COMPLETED, Status.DEAD, Status.CANCELLED})
RETRYABLE = frozenset({Status.DEAD, Status.CANCELLED})
CANCELLABLE = frozenset({Status.WAITING, Status.PENDING, Status.SCHEDULED, Status.PROCESSING})


class WorkflowStatus(StrEnum):
    """A workflow's status (docs/workflows.md)."""

    RUNNING = "running"
    BLOCKED = "blocked"  # a task of it is dead: what depends on it waits (or requeue it)
    COMPLETED = "completed"
    CANCELLED = "cancelled"
