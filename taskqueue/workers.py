"""The worker registry: one entry per running worker process (or per supervisor in
--processes mode), written by the worker's heartbeat (WorkerBeat) and read by the
console and the API (WorkerInfo). How it is stored: broker/codec.py.

An operator may tell a worker to go quiet (stop claiming, finish what it holds) or to
stop (as SIGTERM does): a WorkerControl record beside its entry, and a wake-up token
the worker blocks on, so it obeys within a second (docs/worker.md, "Worker control")."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

# A worker whose last heartbeat is older than this is shown as lost.
LOST_AFTER_S = 60.0
# Registry entries of workers silent for this long are removed.
FORGET_AFTER_S = 3600
# What an operator may tell a worker (WorkerControl.command).
COMMANDS = ("quiet", "stop")
# A worker's states in its registry entry.
STATES = ("running", "quiet", "stopping")


@dataclass(frozen=True, slots=True)
class WorkerBeat:
    """What a worker says of itself at each heartbeat (its registry entry)."""

    id: str
    name: str
    host: str
    pid: int
    queues: Sequence[str]
    concurrency: int
    processes: int
    started_at: int  # epoch ms
    state: str = "running"  # running, quiet, stopping
    in_flight: int = 0
    processed: int = 0
    failed: int = 0


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    id: str
    name: str
    host: str
    pid: int
    queues: list[str]
    concurrency: int
    processes: int
    started_at: datetime | None
    heartbeat_at: datetime | None
    in_flight: int
    processed: int
    failed: int
    state: str  # running, quiet, stopping
    lost: bool

    def to_dict(self) -> dict:
        out = {name: getattr(self, name) for name in self.__slots__}
        for name in ("started_at", "heartbeat_at"):
            out[name] = out[name].isoformat() if out[name] else None
        return out


@dataclass(frozen=True, slots=True)
class WorkerControl:
    """An operator's command to one worker, as the worker reads it."""

    command: str  # one of COMMANDS
    by: str  # who asked (the audit trail has the rest)
    at: datetime | None
