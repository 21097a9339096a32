"""Operations that reach one worker quickly (global keys, outside any queue's slot).

Each worker BLPOPs its own wake-up list (`<prefix>:worker-wake:<id>`) between
heartbeats. A token there makes it renew its leases at once, which is how a running
task hears a cancel within a second, and read its control record
(`<prefix>:worker-control:<id>`: quiet or stop, by whom, when). The list is only a
wake-up: the truth stays in the task record (`cancel_requested`) and in the control
record, which the worker also reads at every heartbeat, so a lost token costs a
heartbeat's delay, never a command.
"""

from datetime import UTC, datetime

from ..text import as_text
from ..workers import FORGET_AFTER_S, WorkerControl
from .requests import Commands, Plan, operation

WAKE_TOKENS = 16  # tokens kept on a worker's list: it needs one to wake
WAKE_TTL_S = 300  # a list nobody pops (its worker is gone) disappears


class ControlOperations:
    """Mixed into Operations (needs keys and GlobalOperations' _global)."""

    @operation
    def control_worker(self, worker_id: str, command: str, by: str, now_ms: int) -> Plan:
        """Record an operator's command for a worker and wake it."""
        control, wake = self.keys.worker_control(worker_id), self.keys.worker_wake(worker_id)
        fields = {"command": command, "by": by, "at": str(now_ms)}

        def queue(pipe) -> None:
            pipe.hset(control, mapping=fields)
            pipe.expire(control, FORGET_AFTER_S)
            self._push_wake(pipe, wake, command)

        yield from self._global({control: "hash", wake: "list"}, Commands(queue))

    @operation
    def wake_worker(self, worker_id: str, reason: str) -> Plan:
        """Wake a worker (a task it runs was asked to stop): it renews its leases now."""
        wake = self.keys.worker_wake(worker_id)
        step = Commands(lambda pipe: self._push_wake(pipe, wake, reason))
        yield from self._global({wake: "list"}, step)

    @operation
    def worker_control(self, worker_id: str) -> Plan:
        """The command recorded for a worker (WorkerControl), or None."""
        control = self.keys.worker_control(worker_id)
        step = Commands(lambda pipe: pipe.hgetall(control), _control_of)
        return (yield from self._global({control: "hash"}, step))

    def _push_wake(self, pipe, wake: str, token: str) -> None:
        pipe.rpush(wake, token)
        pipe.ltrim(wake, -WAKE_TOKENS, -1)
        pipe.expire(wake, WAKE_TTL_S)


def _control_of(replies: list) -> WorkerControl | None:
    """From the control HASH; anyone can write one: read defensively."""
    h = {as_text(k): as_text(v) for k, v in (replies[0] or {}).items()}
    if not h.get("command"):
        return None
    try:
        at = datetime.fromtimestamp(int(h.get("at", "")) / 1000, tz=UTC)
    except (ValueError, OverflowError, OSError):
        at = None
    return WorkerControl(h["command"][:20], h.get("by", "")[:150], at)
