"""What the broker's operations answer: enums and named tuples, never bare True / 0 /
'stale'. A fenced report (complete, fail, finish_cancelled, release) that came from a
worker whose lease was lost answers STALE and changed nothing.

The enums keep the values the scripts reply with (IntEnum / StrEnum), so an outcome
also reads as its plain value in a log line or a JSON document; the tuples unpack."""

from enum import IntEnum, StrEnum
from typing import NamedTuple

from ..records import Claimed


class Ack(IntEnum):
    """The answer to a fenced report of one task (complete, finish_cancelled, release)."""

    STALE = 0  # the attempt is no longer the current one: refused, nothing changed
    RECORDED = 1
    NOTIFIED = 2  # recorded, and its workflows told through the queue's outbox

    @property
    def stale(self) -> bool:
        return self is Ack.STALE


class Failed(StrEnum):
    """Where a failed attempt sent its task."""

    SCHEDULED = "scheduled"  # a retry, after its backoff
    DEAD = "dead"  # the dead-letter queue
    STALE = "stale"  # refused: the attempt is no longer the current one

    @property
    def stale(self) -> bool:
        return self is Failed.STALE


class Lease(IntEnum):
    """The answer to renewing one lease."""

    LOST = 0  # no longer this attempt's: stop reporting on it
    RENEWED = 1
    CANCEL_REQUESTED = 2  # renewed, and an operator asked the task to stop


class Cancel(StrEnum):
    CANCELLED = "cancelled"  # it was waiting: cancelled now
    REQUESTED = "requested"  # it is running: asked to stop (its worker is woken)


class Cancelled(NamedTuple):
    outcome: Cancel
    before: str  # the status it had


class Moved(NamedTuple):
    """What a requeue or a delete did to one task."""

    before: str  # the status it had ('missing': there is no such task)
    done: bool  # False: its status does not allow the action, and nothing changed


class Noted(NamedTuple):
    """The tasks noted under a confirmation token (confirm_ops.py)."""

    count: int  # ids noted: what the operator is asked to confirm
    total: int  # of how many (a queue's pending tasks: at most CONFIRM_MAX are noted)


class Purged(NamedTuple):
    """What a purge of confirmed tasks did."""

    deleted: int
    gone: dict[str, int]  # status now -> confirmed ids no longer pending ('missing')


class Enqueued(NamedTuple):
    id: str
    created: bool  # False: an idempotency key named an existing task, which is `id`


class Claim(list[Claimed]):
    """The tasks a claim moved into `active`, in order."""

    suspects_passed: int = 0  # tasks that lost a lease, left in place for an idle worker
    # Why it stopped short (docs/flow-control.md): 0 it did not; > 0 the ms until the
    # queue's rate limit lets the next task start; -1 the queue's concurrency limit
    # is reached (a slot frees when a running task ends)
    throttled: int = 0
    # ms until a line of tasks held back by their task's rate gets its next permit
    # (0: none waits): the worker claims again then, whatever else it waits for
    next_permit: int = 0


class Reaped(NamedTuple):
    requeued: int
    dead: int


class Promoted(NamedTuple):
    count: int
    next_due_ms: int | None  # when the next scheduled task is due, if any
    now_ms: int  # Redis's clock


class Swept(NamedTuple):
    """One queue's part of a maintenance sweep (Operations.sweep): each outcome, or
    the exception its call met (one queue's trouble is its own)."""

    queue: str
    promoted: Promoted | Exception
    reaped: Reaped | Exception


class Trimmed(NamedTuple):
    """Finished records deleted past their retention (at most a batch of each)."""

    completed: int
    cancelled: int
    dead: int


def refused(answer: object) -> bool:
    """Whether the answer to a fenced report says it came too late (STALE)."""
    return answer is Ack.STALE or answer is Failed.STALE
