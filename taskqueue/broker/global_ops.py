"""Operations on the global keys (outside any queue's slot): the worker registry, the
periodic schedules' state and the archive lock. Nothing depends on them for a task's
safety; a key of the wrong type among them is moved aside and the operation runs again
(damage.py)."""

import json
import logging
import time

from ..workers import FORGET_AFTER_S, WorkerBeat
from .codec import worker_entry
from .damage import QUARANTINE_TTL_S, log_moved_global
from .errors import is_wrong_type
from .requests import Commands, Plan, ScriptCall, commands, operation, script, settled

log = logging.getLogger("taskqueue.broker")


class GlobalOperations:
    """Mixed into Operations (needs keys)."""

    def _quarantine_global(self, key: str, expected: str) -> ScriptCall | None:
        """Move a global key aside if it has the wrong type. Reply: (type it had, key it
        was moved to), or None when it was fine. None: no name in its slot (keys.py)."""
        target = self.keys.quarantine(key, int(time.time() * 1000))
        if target is None:
            return None
        parse = lambda found: (found, target) if found else None  # noqa: E731
        argv = [expected, QUARANTINE_TTL_S]
        return ScriptCall("quarantine_global_key", [key, target], argv, parse, heals=False)

    def _global(self, wanted: dict[str, str], step: Commands) -> Plan:
        """Commands on global keys; when one met a key of the wrong type, those of
        `wanted` (key -> the type it must have) are moved aside and it runs again."""
        replies = yield step
        if not any(isinstance(r, Exception) and is_wrong_type(r) for r in replies):
            return settled(step, replies)
        yield from self._heal_globals(wanted)
        return (yield from commands(step))

    def _heal_globals(self, wanted: dict[str, str]) -> Plan:
        """Move aside those of `wanted`'s global keys (key -> the type it must have)
        that have another type."""
        for key, expected in wanted.items():
            call = self._quarantine_global(key, expected)
            if call is None:
                log.error("Redis key %r has the wrong type and cannot be moved aside", key)
                continue
            moved = yield from script(call)
            if moved is not None:
                log_moved_global(key, *moved)
                yield Commands(lambda pipe: pipe.incr(self.keys.quarantined))

    # -- the worker registry, periodic state, the archive lock (global keys) ----------

    @operation
    def register_worker(self, beat: WorkerBeat, now_ms: int) -> Plan:
        """Write a worker's registry entry with its heartbeat at `now_ms` (Redis's clock);
        forget workers silent for FORGET_AFTER_S."""
        key, workers = self.keys.worker(beat.id), self.keys.workers

        def queue(pipe) -> None:
            pipe.hset(key, mapping=worker_entry(beat, now_ms))
            pipe.expire(key, FORGET_AFTER_S)
            pipe.zadd(workers, {beat.id: now_ms})
            pipe.zremrangebyscore(workers, "-inf", now_ms - FORGET_AFTER_S * 1000)

        yield from self._global({key: "hash", workers: "zset"}, Commands(queue))

    @operation
    def unregister_worker(self, worker_id: str) -> Plan:
        """Remove a worker's registry entry, its control record and wake-up list (it
        stopped)."""
        workers, k = self.keys.workers, self.keys

        def queue(pipe) -> None:
            for key in (k.worker(worker_id), k.worker_control(worker_id), k.worker_wake(worker_id)):
                pipe.delete(key)  # one key each: on a cluster they live in different slots
            pipe.zrem(workers, worker_id)

        yield from self._global({workers: "zset"}, Commands(queue))

    @operation
    def record_periodic(self, schedule: str, tick_ms: int, task_id: str) -> Plan:
        """Keep a periodic schedule's last tick, and the task it made, for the console."""
        periodic, state = self.keys.periodic, json.dumps({"last_tick": tick_ms, "task_id": task_id})
        step = Commands(lambda pipe: pipe.hset(periodic, schedule, state))
        yield from self._global({periodic: "hash"}, step)

    @operation
    def take_archive_lock(self, token: str, ms: int) -> Plan:
        """Take the archive lock for `ms` (SET NX PX): whether we got it. A lock key of
        another type (it would never expire: anyone can write one) is moved aside first,
        or no process would archive again."""
        lock = self.keys.archive_lock
        step = Commands(lambda pipe: pipe.set(lock, token, nx=True, px=ms), _first_bool)
        if (yield from commands(step)):
            return True
        yield from self._heal_globals({lock: "string"})
        return (yield from commands(step))

    @operation
    def release_archive_lock(self, token: str) -> ScriptCall:
        """Release the archive lock if it is still ours: whether it was."""
        parse = lambda reply: reply == 1  # noqa: E731
        return ScriptCall("release_lock", [self.keys.archive_lock], [token], parse, heals=False)


def _first_bool(replies: list) -> bool:
    return bool(replies[0])
