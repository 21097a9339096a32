"""What the broker sends and returns: new tasks, claimed tasks and task records.

A record's fields live in the task's Redis HASH (see broker/keys.py). Reading is
defensive: Redis contents are not trusted, so a field that does not parse comes back
as None (or the raw text for JSON fields) instead of raising.
"""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

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

    @classmethod
    def from_hash(cls, h: dict[str, str]) -> "TaskRecord":
        h = {_text(k): _text(v) for k, v in h.items()}
        g = h.get
        return cls(
            id=g("id", ""),
            name=g("name", ""),
            queue=g("queue", ""),
            status=_status(g("status")),
            priority=_int(g("priority")),
            band=_int(g("band")),
            args=_json(g("args")),
            kwargs=_json(g("kwargs")),
            attempts=_int(g("attempts")) or 0,
            failures=_int(g("failures")) or 0,
            lost=_int(g("lost")) or 0,
            max_retries=_int(g("max_retries")),
            timeout=_float(g("timeout")),
            created_at=_time(g("created_at")),
            run_at=_time(g("run_at")),
            started_at=_time(g("started_at")),
            finished_at=_time(g("finished_at")),
            heartbeat_at=_time(g("heartbeat_at")),
            lease_until=_time(g("lease_until")),
            worker=g("worker", ""),
            result=_json(g("result")),
            error_type=g("error_type", ""),
            error_message=g("error_message", ""),
            traceback=g("traceback", ""),
            dead_reason=g("dead_reason", ""),
            idempotency_key=g("idempotency_key", ""),
            cancel_requested=g("cancel_requested") == "1",
            progress=_json(g("progress")),
            meta=_json(g("meta")),
            history=_history(h),
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


def _text(value):
    """Bytes that were not UTF-8 (the client keeps them as lone surrogates: see
    client.py) as U+FFFD, so a record can be shown and encoded as UTF-8."""
    if not isinstance(value, str) or value.isascii():
        return value
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _history(h: dict[str, str]) -> tuple[Attempt, ...]:
    attempts = []
    for key, value in h.items():
        if not key.startswith("h:"):
            continue
        number = _int(key[2:])
        parts = value.split("|")
        if number is None or len(parts) < 2:
            continue
        attempts.append(
            Attempt(
                number=number,
                worker=parts[0],
                started_at=_time(parts[1]),
                finished_at=_time(parts[2]) if len(parts) > 2 else None,
                outcome=parts[3] if len(parts) > 3 else None,
                error=_json(h.get(f"e:{number}")),
            )
        )
    return tuple(sorted(attempts, key=lambda a: a.number))


def _status(value: str | None) -> Status | str:
    try:
        return Status(value)
    except ValueError:
        return value or ""


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def _time(value: str | None) -> datetime | None:
    ms = _float(value)
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


def _json(value: str | None) -> Any:
    if value in (None, ""):
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Status):
        return value.value
    return value
