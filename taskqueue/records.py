"""What the broker sends and returns: new tasks, claimed tasks and task records.

How they are stored (the task's Redis HASH and its fields) is the broker's business
(broker/codec.py). Reading is defensive (record_fields.py): Redis contents are not
trusted, so a field that does not parse comes back as None, with the reason in the
record's `unreadable`, instead of raising.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from .status import Status


@dataclass(slots=True)
class NewTask:
    """One task to enqueue; args and kwargs are already JSON text."""

    id: str
    name: str
    queue: str
    args: str
    kwargs: str
    priority: int
    band: int
    max_retries: int
    timeout: float | None
    delay_ms: int = 0
    eta_ms: int = 0
    idempotency_key: str = ""
    meta: str = ""


class TaskError(NamedTuple):
    """Why an attempt failed: the exception's type, message and traceback."""

    type: str
    message: str
    traceback: str


@dataclass(slots=True)
class Claimed:
    """A task a worker holds: report on it with (id, attempt)."""

    id: str
    queue: str
    attempt: int
    name: str
    args: str
    kwargs: str
    timeout: float | None
    failures: int
    max_retries: int
    meta: str
    lost: int = 0  # leases lost so far: a task that lost one runs alone (see docs/worker.md)
    problem: str = ""  # a record field that did not parse: the task is dead-lettered with it
    logical_queue: str = ""  # the queue a sub-queue ('emails#2', `queue`) belongs to


@dataclass(frozen=True, slots=True)
class Attempt:
    number: int
    worker: str
    started_at: datetime | None
    finished_at: datetime | None = None
    outcome: str | None = None  # completed, retry, dead, lost, released, cancelled
    error: dict | None = None  # {"type", "message", "traceback"} of a failed attempt


@dataclass(frozen=True, slots=True)
class TaskRecord:
    id: str
    name: str
    queue: str
    status: Status | str
    priority: int | None
    band: int | None  # the pending-score band (priority.py): keeps a task's exact level
    args: Any
    kwargs: Any
    attempts: int
    failures: int
    lost: int
    max_retries: int | None
    timeout: float | None
    created_at: datetime | None
    run_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    lease_until: datetime | None
    worker: str
    result: Any
    error_type: str
    error_message: str
    traceback: str
    dead_reason: str
    idempotency_key: str
    cancel_requested: bool
    progress: Any
    meta: Any
    history: tuple[Attempt, ...] = field(default=())

    unreadable: dict[str, str] = field(default_factory=dict)  # field -> why not shown

    @property
    def is_terminal(self) -> bool:
        return self.status in (Status.COMPLETED, Status.DEAD, Status.CANCELLED)

    def to_dict(self) -> dict:
        """A JSON-ready dict (datetimes as ISO 8601 strings)."""
        out = {name: _plain(getattr(self, name)) for name in self.__slots__}
        out["history"] = [
            {name: _plain(getattr(a, name)) for name in Attempt.__slots__} for a in self.history
        ]
        return out


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Status):
        return value.value
    return value
