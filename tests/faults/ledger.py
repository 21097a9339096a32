"""The ledger: what the task bodies (tests/taskapp/fault_tasks.py) say they did.

Every worker process appends one line per event to its own file in the ledger directory
(env TASKQUEUE_LEDGER_DIR), with a single os.write on an O_APPEND descriptor, so a
record written before a SIGKILL is on disk and a line is never interleaved with another.
A line is JSON: {"e": "start" | "end" | "tick", "id", "a" (attempt), "pid", "t" (epoch
seconds), "n" (task name), "ok" (end only: the body returned rather than raised)}.
A torn last line (the writer died mid-write) is ignored.
"""

import json
import os
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ENV = "TASKQUEUE_LEDGER_DIR"


@dataclass(frozen=True)
class Entry:
    kind: str  # start, end, tick
    id: str
    attempt: int
    pid: int
    t: float  # epoch seconds (time.time() in the worker)
    name: str = ""
    ok: bool | None = None  # end: True when the body returned, False when it raised


@dataclass
class Run:
    """One attempt of one task as the ledger saw it."""

    id: str
    attempt: int
    pid: int
    started: float
    ended: float | None = None  # None: no end record (its worker died mid-task)
    ok: bool | None = None
    last_seen: float = 0.0  # the latest record of this run (start, tick or end)


class Ledger:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)

    def env(self) -> dict[str, str]:
        return {ENV: str(self.path)}

    def read(self) -> list[Entry]:
        entries = []
        for file in sorted(self.path.glob("*.jsonl")):
            entries += _parse(file.read_bytes())
        entries.sort(key=lambda e: e.t)
        return entries

    def runs(self) -> dict[str, list[Run]]:
        """task id -> its runs (one per attempt that started), in attempt order."""
        found: dict[tuple[str, int, int], Run] = {}
        for e in self.read():
            key = (e.id, e.attempt, e.pid)
            run = found.get(key)
            if run is None:
                run = found[key] = Run(e.id, e.attempt, e.pid, e.t, last_seen=e.t)
            run.last_seen = max(run.last_seen, e.t)
            if e.kind == "start":
                run.started = min(run.started, e.t)
            elif e.kind == "end":
                run.ended, run.ok = e.t, e.ok
        by_id: dict[str, list[Run]] = defaultdict(list)
        for run in sorted(found.values(), key=lambda r: (r.attempt, r.started)):
            by_id[run.id].append(run)
        return dict(by_id)

    def completions(self) -> dict[str, int]:
        """task id -> how many runs of it returned normally."""
        counts: dict[str, int] = defaultdict(int)
        for e in self.read():
            if e.kind == "end" and e.ok:
                counts[e.id] += 1
        return dict(counts)

    def starts(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for e in self.read():
            if e.kind == "start":
                counts[e.id] += 1
        return dict(counts)


def _parse(data: bytes) -> list[Entry]:
    out = []
    lines = data.split(b"\n")
    for i, line in enumerate(lines):
        if not line:
            continue
        try:
            raw = json.loads(line)
            out.append(
                Entry(
                    raw["e"],
                    raw["id"],
                    int(raw["a"]),
                    int(raw["pid"]),
                    float(raw["t"]),
                    raw.get("n", ""),
                    raw.get("ok"),
                )
            )
        except (ValueError, KeyError, TypeError):
            if i == len(lines) - 1:  # a torn last line: its writer died mid-write
                continue
            raise ValueError(f"malformed ledger line {i + 1}: {line[:200]!r}") from None
    return out


# -- the writer's side (runs in the worker processes) ------------------------------------

_fds: dict[int, int] = {}
_lock = threading.Lock()


def _fd() -> int | None:
    folder = os.environ.get(ENV)
    if not folder:
        return None
    pid = os.getpid()
    fd = _fds.get(pid)
    if fd is None:
        with _lock:
            fd = _fds.get(pid)
            if fd is None:
                name = f"ledger-{pid}-{os.urandom(3).hex()}.jsonl"
                fd = os.open(
                    os.path.join(folder, name), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644
                )
                _fds[pid] = fd
    return fd


def write(kind: str, task_id: str, attempt: int, name: str = "", ok: bool | None = None) -> None:
    """Append one record (one os.write: atomic, and on disk before any SIGKILL)."""
    fd = _fd()
    if fd is None:
        return
    record = {"e": kind, "id": task_id, "a": attempt, "pid": os.getpid(), "t": time.time()}
    if name:
        record["n"] = name
    if ok is not None:
        record["ok"] = ok
    os.write(fd, (json.dumps(record, separators=(",", ":")) + "\n").encode())
