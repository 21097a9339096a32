"""The script call of every state change, built without doing any I/O.

`Operations` turns a broker method's arguments into a ScriptCall (script name, KEYS,
ARGV and a parser for the reply). The sync broker (redis_broker.py) and the async one
the worker uses (async_broker.py) execute the same calls, so the two cannot drift.

`now` is epoch milliseconds for tests; None lets the script read Redis's clock.
"""

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..conf import Config
from ..priority import BAND_WIDTH
from ..records import Claimed, NewTask
from .damage import QUARANTINE_TTL_S, Damage
from .keys import Keys, logical_queue

PURGE_BATCH = 1000


@dataclass(slots=True)
class ScriptCall:
    script: str
    keys: list[str]
    args: list
    parse: Callable[[Any], Any] = field(default=lambda reply: reply)
    task_id: str = ""  # for translating an error reply into the engine's exception
    action: str = ""
    queue: str = ""  # the (sub-)queue whose keys it touches
    heals: bool = True  # on damage (damage.py): move the keys aside and call again


def _now(now: int | None) -> int | str:
    return "" if now is None else now


def _flags(reply: list) -> list[bool]:
    return [r == 1 for r in reply]


class Operations:
    def __init__(self, keys: Keys, config: Config):
        self.keys = keys
        self.config = config

    def _call(self, script, queue, kinds, args, parse=None, **extra) -> ScriptCall:
        q = self.keys.queue(queue)
        keys = [getattr(q, kind) for kind in kinds]
        parse = parse or (lambda r: r)
        return ScriptCall(script, keys, [q.base, *args], parse, queue=queue, **extra)

    # -- producing -------------------------------------------------------------------

    def enqueue(self, queue: str, tasks: Sequence[NewTask], now: int | None) -> ScriptCall:
        """Reply: [(id, created)] per task, in order. `queue` may be a sub-queue
        ('emails#2'); the records name the queue ('emails')."""
        cfg = self.config
        record_queue = logical_queue(queue)
        argv = [
            _now(now),
            record_queue,
            cfg.IDEMPOTENCY_TTL,
            cfg.WAKE_MAX,
            cfg.EVENTS_MAXLEN,
            BAND_WIDTH,
        ]
        for t in tasks:
            argv += t.argv()
        kinds = ("pending", "scheduled", "seq", "wake", "events", "stats", "index", "timer")
        return self._call("enqueue_tasks", queue, kinds, argv, _pairs)

    # -- the worker's side -----------------------------------------------------------

    def claim(
        self,
        queue: str,
        worker_id: str,
        count: int,
        lease_ms: int | None,
        now: int | None,
        suspects: str = "",
    ) -> ScriptCall:
        """`suspects`: '' takes tasks that lost a lease like any other; 'alone' takes one
        at the head of the line by itself; 'busy' leaves them for an idle worker. Reply:
        a Claimed list (`.suspects_passed`: how many were left in place)."""
        lease = self.config.lease_ms if lease_ms is None else lease_ms
        argv = [_now(now), count, lease, worker_id, self.config.EVENTS_MAXLEN]
        if suspects:
            argv.append(suspects)
        kinds = ("pending", "active", "paused", "events", "stats", "wake")
        return self._call("claim_tasks", queue, kinds, argv, lambda r: _claimed(queue, r))

    def complete(self, queue: str, done: Sequence[tuple[str, int, str]], now: int | None):
        argv = [_now(now), self.config.RESULT_TTL, self.config.EVENTS_MAXLEN]
        for task_id, attempt, result in done:
            argv += [task_id, attempt, result]
        kinds = ("active", "completed", "events", "stats", "index")
        return self._call("complete_tasks", queue, kinds, argv, _flags)

    def fail(
        self,
        queue: str,
        task_id: str,
        attempt: int,
        retry_delay_ms: int | None,
        error: tuple[str, str, str, str],
        now: int | None,
    ) -> ScriptCall:
        """error = (type, message, traceback, JSON of all three). Reply: 'scheduled',
        'dead' or 'stale'."""
        cfg = self.config
        delay = -1 if retry_delay_ms is None else max(0, int(retry_delay_ms))
        argv = [
            _now(now),
            task_id,
            attempt,
            delay,
            *error,
            cfg.DEAD_TTL,
            cfg.DEAD_MAX,
            cfg.EVENTS_MAXLEN,
        ]
        kinds = ("active", "scheduled", "dead", "events", "stats", "errors", "index", "timer")
        return self._call("fail_task", queue, kinds, argv)

    def renew(
        self, queue: str, held: Sequence[tuple], lease_ms: int | None, now: int | None
    ) -> ScriptCall:
        """held: (id, attempt) or (id, attempt, progress JSON). Reply per task: 1 renewed,
        2 renewed + cancel requested, 0 lost."""
        lease = self.config.lease_ms if lease_ms is None else lease_ms
        argv = [_now(now), lease]
        for task_id, attempt, *progress in held:
            argv += [task_id, attempt, progress[0] if progress else ""]
        return self._call("renew_leases", queue, ("active",), argv)

    def release(self, queue: str, held: Sequence[tuple[str, int]], now: int | None):
        argv = [_now(now), self.config.EVENTS_MAXLEN, self.config.WAKE_MAX, BAND_WIDTH]
        for task_id, attempt in held:
            argv += [task_id, attempt]
        kinds = ("active", "pending", "events", "wake")
        return self._call("release_tasks", queue, kinds, argv, _flags)

    def finish_cancelled(self, queue: str, task_id: str, attempt: int, now: int | None):
        argv = [_now(now), task_id, attempt, self.config.RESULT_TTL, self.config.EVENTS_MAXLEN]
        kinds = ("active", "cancelled", "events", "stats", "index")
        return self._call("finish_cancelled", queue, kinds, argv, lambda r: r == 1)

    def record_runtimes(self, queue: str, increments: Sequence[tuple[str, int]]) -> ScriptCall:
        """increments: (field, amount) of the queue's runtime hash (runtime.py)."""
        argv = [value for pair in increments for value in pair]
        return self._call("record_runtimes", queue, ("runtime",), argv)

    # -- maintenance -----------------------------------------------------------------

    def reap(self, queue: str, limit: int, now: int | None) -> ScriptCall:
        """Reply: (requeued, dead)."""
        cfg = self.config
        argv = [
            _now(now),
            limit,
            cfg.MAX_LEASE_LOSSES,
            cfg.DEAD_TTL,
            cfg.DEAD_MAX,
            cfg.EVENTS_MAXLEN,
            cfg.WAKE_MAX,
            BAND_WIDTH,
        ]
        kinds = ("active", "pending", "dead", "events", "stats", "errors", "wake", "index")
        return self._call("reap_leases", queue, kinds, argv, tuple)

    def promote(self, queue: str, limit: int, now: int | None) -> ScriptCall:
        """Reply: (promoted, next due ms or None, Redis now ms)."""
        argv = [_now(now), limit, self.config.WAKE_MAX, self.config.EVENTS_MAXLEN, BAND_WIDTH]
        kinds = ("scheduled", "pending", "seq", "wake", "events", "timer")
        return self._call("promote_scheduled", queue, kinds, argv, _promoted)

    def trim(self, queue: str, now: int | None) -> ScriptCall:
        """Reply: (completed, cancelled, dead) records deleted past their retention
        (at most 100 of each a call)."""
        cfg = self.config
        argv = [_now(now), cfg.RESULT_TTL, cfg.DEAD_TTL, cfg.DEAD_MAX, 100]
        kinds = ("completed", "cancelled", "dead", "errors", "index", "stats")
        return self._call("trim_expired", queue, kinds, argv, tuple)

    # -- operator actions ------------------------------------------------------------

    def cancel(self, queue: str, task_id: str, now: int | None) -> ScriptCall:
        """Reply: ('cancelled' | 'requested', status before)."""
        argv = [_now(now), task_id, self.config.RESULT_TTL, self.config.EVENTS_MAXLEN]
        kinds = ("pending", "scheduled", "cancelled", "events", "stats", "index")
        return self._call(
            "cancel_task", queue, kinds, argv, tuple, task_id=task_id, action="cancel"
        )

    def run_now(self, queue: str, task_id: str, now: int | None) -> ScriptCall:
        """Reply: 'pending'. Errors for a task that is not scheduled."""
        argv = [_now(now), task_id, self.config.EVENTS_MAXLEN, self.config.WAKE_MAX, BAND_WIDTH]
        kinds = ("scheduled", "pending", "seq", "wake", "events")
        return self._call("run_now", queue, kinds, argv, task_id=task_id, action="run now")

    def requeue(self, queue: str, task_ids: Sequence[str], now: int | None) -> ScriptCall:
        argv = [_now(now), self.config.EVENTS_MAXLEN, self.config.WAKE_MAX, BAND_WIDTH, *task_ids]
        kinds = ("pending", "dead", "cancelled", "seq", "errors", "events", "wake", "stats")
        return self._call("requeue_tasks", queue, kinds, argv)

    def delete(self, queue: str, task_ids: Sequence[str]) -> ScriptCall:
        kinds = ("completed", "dead", "cancelled", "index", "errors", "events")
        return self._call("delete_tasks", queue, kinds, [self.config.EVENTS_MAXLEN, *task_ids])

    def purge_pending(self, queue: str, batch: int = PURGE_BATCH) -> ScriptCall:
        kinds = ("pending", "index", "events", "stats")
        return self._call("purge_pending", queue, kinds, [batch, self.config.EVENTS_MAXLEN])

    def set_paused(self, queue: str, paused: bool) -> ScriptCall:
        """Reply: whether the queue was paused before."""
        argv = ["1" if paused else "0", self.config.EVENTS_MAXLEN, self.config.WAKE_MAX]
        kinds = ("paused", "events", "wake", "pending")
        return self._call("set_paused", queue, kinds, argv, lambda r: r == 1)

    def oldest_pending(self, queue: str) -> ScriptCall:
        """Reply: ready time (epoch ms) of the longest-waiting pending task, or None."""
        parse = lambda r: None if r < 0 else r  # noqa: E731
        return self._call("oldest_pending", queue, ("pending",), [BAND_WIDTH], parse, heals=False)

    def quarantine(self, queue: str, damage: Sequence[Damage]) -> ScriptCall:
        """Move keys of the wrong type aside (damage.py). Reply: (key, type it had, key it
        was moved to) per key moved, flat."""
        q = self.keys.queue(queue)
        argv = ["", self.config.EVENTS_MAXLEN, QUARANTINE_TTL_S, *(d.expected for d in damage)]
        keys = [q.stats, q.events, *(d.key for d in damage)]
        return ScriptCall("quarantine_keys", keys, [q.base, *argv], queue=queue, heals=False)

    def quarantine_global(self, key: str, expected: str) -> ScriptCall | None:
        """Move a global key aside if it has the wrong type. Reply: (type it had, key it
        was moved to), or None when it was fine. None: no name in its slot (keys.py)."""
        target = self.keys.quarantine(key, int(time.time() * 1000))
        if target is None:
            return None
        parse = lambda found: (found, target) if found else None  # noqa: E731
        argv = [expected, QUARANTINE_TTL_S]
        return ScriptCall("quarantine_global_key", [key, target], argv, parse, heals=False)


def _pairs(reply: list) -> list[tuple[str, bool]]:
    return [(reply[i], reply[i + 1] == 1) for i in range(0, len(reply), 2)]


def _promoted(reply: list) -> tuple[int, int | None, int]:
    promoted, next_due, now = reply
    return promoted, (None if next_due < 0 else next_due), now


class ClaimedTasks(list):
    """The tasks a claim returned, and how many suspects it left in place."""

    suspects_passed = 0


def _claimed(queue: str, flat: list) -> list[Claimed]:
    """The claimed tasks. Their fields come from records that anyone with access to
    Redis may have written: a field that does not parse never raises here (the tasks
    are already in `active`); it is named in `problem`, and the worker dead-letters the
    task with it (runner.py) instead of running it."""
    out = ClaimedTasks()
    if len(flat) % 10 == 1:  # the claim's last value: how many suspects it passed over
        out.suspects_passed = int(flat[-1])
        flat = flat[:-1]
    for i in range(0, len(flat), 10):
        problems: list[str] = []
        timeout = _field(flat[i + 5], "timeout", _timeout, None, problems)
        out.append(
            Claimed(
                id=flat[i],
                queue=queue,
                attempt=int(flat[i + 1]),  # the claim script's own counter: always a number
                name=flat[i + 2],
                args=flat[i + 3],
                kwargs=flat[i + 4],
                timeout=timeout,
                failures=_field(flat[i + 6], "failures", _count, 0, problems),
                max_retries=_field(flat[i + 7], "max_retries", _count, 0, problems),
                meta=flat[i + 8],
                lost=_field(flat[i + 9], "lost", _count, 0, problems),
                problem="; ".join(problems),
            )
        )
    return out


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


def _timeout(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(text)
    return value


def _field(value, name: str, parse, default, problems: list[str]):
    """`parse(value)`, or `default` for a missing value; a malformed one adds a problem."""
    if value in (None, ""):
        return default
    try:
        return parse(value)
    except (ValueError, TypeError, OverflowError):
        problems.append(f"record field {name} is not a valid number: {str(value)[:40]!r}")
        return default
