"""What the broker sends and returns: new tasks, claimed tasks and task records.

How they are stored (the task's Redis HASH and its fields) is the broker's business
(broker/codec.py). Reading is defensive (record_fields.py): Redis contents are not
trusted, so a field that does not parse comes back as None, with the reason in the
record's `unreadable`, instead of raising.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from .status import Status, WorkflowStatus


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
    waiting: bool = False  # a workflow node waiting for its parents (docs/workflows.md)
    notify: str = ""  # JSON [[workflow id, node(, 1: same slot)], ...]: who hears of its changes
    tenant: str = ""  # whose task it is: fair share within its queue (docs/flow-control.md)


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
    tenant: str = ""  # who the task is for ('' = nobody): the worker's own turns (ready.py)
    band: int = 100  # its priority band (priority.py): lower runs first
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
    tenant: str = ""  # whose task it is (docs/flow-control.md#tenants); '' none
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


# -- workflows (docs/workflows.md) ------------------------------------------------------


@dataclass(slots=True)
class NewNode:
    """One node of a workflow to submit: a new task, or an existing one (`external`:
    a task that `depends_on=` names, which only reports to the workflow)."""

    key: str
    task: NewTask  # for an external node only its id and queue are used
    parents: list[str] = field(default_factory=list)  # in the order their results come
    children: list[str] = field(default_factory=list)
    feed: str = "none"  # how parents' results reach it: 'none', 'one', 'list'
    external: bool = False


@dataclass(slots=True)
class NewWorkflow:
    id: str
    name: str
    on_failure: str  # 'wait' or 'cancel'
    nodes: list[NewNode]


@dataclass(frozen=True, slots=True)
class WorkflowInfo:
    id: str
    name: str
    status: WorkflowStatus | str
    on_failure: str
    created_at: datetime | None
    finished_at: datetime | None
    total: int
    completed: int
    dead: int
    cancelled: int


@dataclass(frozen=True, slots=True)
class WorkflowNode:
    key: str
    queue: str
    task_id: str
    state: str  # waiting, released, completed, dead, cancelled (the workflow's view)
    parents: tuple[str, ...]
    children: tuple[str, ...]
