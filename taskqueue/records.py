"""What the broker sends and returns: new tasks, claimed tasks and task records.

A record's fields live in the task's Redis HASH (see broker/keys.py). Reading is
defensive (record_fields.py): Redis contents are not trusted, so a field that does not
parse comes back as None, with the reason in the record's `unreadable`, instead of
raising.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .record_fields import FieldReader, Shown, as_float, as_int, as_text, as_time, preview
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

    def argv(self) -> list:
        timeout = "" if self.timeout is None else self.timeout
        return [
            self.id,
            self.band,
            self.priority,
            self.delay_ms,
            self.eta_ms,
            self.idempotency_key,
            self.name,
            self.args,
            self.kwargs,
            self.max_retries,
            timeout,
            self.meta,
        ]


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

    @classmethod
    def from_hash(
        cls,
        h: dict[str, Any],
        shown: Shown | None = None,
        *,
        task_id: str | None = None,
        queue: str | None = None,
    ) -> "TaskRecord":
        """The record in hash `h`. `task_id` and `queue` say where it was found: they
        win over what the hash says (its contents are not trusted). `shown`: see
        record_fields.py."""
        read = FieldReader({as_text(k): as_text(v) for k, v in h.items()}, shown)
        g, j, raw = read.text, read.json, read.h
        return cls(
            id=as_text(task_id) if task_id is not None else g("id"),
            name=g("name"),
            queue=queue if queue is not None else g("queue"),
            status=_status(g("status")),
            priority=as_int(raw.get("priority")),
            band=as_int(raw.get("band")),
            args=j("args"),
            kwargs=j("kwargs"),
            attempts=as_int(raw.get("attempts")) or 0,
            failures=as_int(raw.get("failures")) or 0,
            lost=as_int(raw.get("lost")) or 0,
            max_retries=as_int(raw.get("max_retries")),
            timeout=as_float(raw.get("timeout")),
            created_at=as_time(raw.get("created_at")),
            run_at=as_time(raw.get("run_at")),
            started_at=as_time(raw.get("started_at")),
            finished_at=as_time(raw.get("finished_at")),
            heartbeat_at=as_time(raw.get("heartbeat_at")),
            lease_until=as_time(raw.get("lease_until")),
            worker=g("worker"),
            result=j("result"),
            error_type=g("error_type"),
            error_message=g("error_message"),
            traceback=g("traceback"),
            dead_reason=g("dead_reason"),
            idempotency_key=g("idempotency_key"),
            cancel_requested=raw.get("cancel_requested") == "1",
            progress=j("progress"),
            meta=j("meta"),
            history=_history(read),
            unreadable=read.unreadable,
        )

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


def _history(read: FieldReader) -> tuple[Attempt, ...]:
    """One Attempt per `h:<n>` field (`worker|started|ended|outcome`), with the error
    of `e:<n>`; with a Shown, only the last `attempts` of them."""
    numbered = sorted(
        (number, value)
        for key, value in read.h.items()
        if key.startswith("h:") and (number := as_int(key[2:])) is not None
    )
    limit = read.shown.attempts if read.shown else None
    if limit is not None and len(numbered) > limit:
        read.unreadable["history"] = f"{len(numbered):,} attempts, the last {limit:,} shown"
        numbered = numbered[-limit:]
    return tuple(
        attempt
        for number, value in numbered
        if (attempt := _attempt(read, number, value)) is not None
    )


def _attempt(read: FieldReader, number: int, value: Any) -> Attempt | None:
    parts = value.split("|") if isinstance(value, str) else []
    if len(parts) < 2:
        return None
    part = lambda i: read.text(f"h:{number}", parts[i]) if len(parts) > i else None  # noqa: E731
    return Attempt(
        number=number,
        worker=part(0),
        started_at=as_time(parts[1]),
        finished_at=as_time(parts[2]) if len(parts) > 2 else None,
        outcome=part(3),
        error=_attempt_error(read, number),
    )


def _attempt_error(read: FieldReader, number: int) -> dict | None:
    name = f"e:{number}"
    error = read.json(name)
    if error is not None and not isinstance(error, dict):
        read.unreadable[name] = f"not a JSON object: {preview(read.h[name])}"
        return None
    return error


def _status(value: str) -> Status | str:
    try:
        return Status(value)
    except ValueError:
        return value


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Status):
        return value.value
    return value
