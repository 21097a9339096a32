"""`runworker --processes P`: a supervisor and P worker processes.

The supervisor claims nothing itself. It owns what must survive a stuck or dead child:
the heartbeats (it renews the leases of every task its children report holding, so a
child that hogs the GIL or is paused keeps its tasks), the registry entry, maintenance
and cron, the hard time limits, and the children themselves:

- a child that dies is replaced at once; the leases of the tasks it held are expired
  immediately and reaped (a lost attempt: a task that kills its worker every time ends
  in the dead-letter queue after MAX_LEASE_LOSSES starts);
- a task past its time limit + HARD_LIMIT_GRACE_S, or still running CANCEL_GRACE_S after
  a cancel request, gets its child killed: the task fails with TaskTimeout (and follows
  its retry policy) or is recorded cancelled; the child's other tasks are released;
- SIGTERM/SIGINT are forwarded to the children as SIGTERM (graceful, within --grace),
  and a second signal forwards a second SIGTERM (release at once); an operator's stop
  (the console, `tq workers stop`) is the first of these, an operator's quiet is told
  to every child (and to each one started later) over its pipe.
"""

import asyncio
import contextlib
import json
import logging
import multiprocessing
import os
import signal
import socket
import time
from dataclasses import dataclass, field, replace

from ..broker.outcomes import Lease
from ..client import build_async_broker, build_broker
from ..conf import Config
from ..errors import BrokerUnavailable, TaskNotFound, TaskTimeout
from ..periodic import schedules
from ..registry import registry
from ..workers import WorkerBeat
from . import child as child_process
from .control import Commanded
from .heartbeat import Heartbeat, RuntimeStats, listen_for_wakeups, register_when_possible
from .maintenance import Maintenance, archive_loop
from .options import WorkerOptions
from .retry import retry_delay_ms
from .runner import describe

log = logging.getLogger("taskqueue.worker")
HARD_LIMIT_GRACE_S = 2.0
CANCEL_GRACE_S = 5.0
WATCH_S = 0.25


@dataclass(eq=False)
class Child:
    index: int
    process: multiprocessing.Process
    conn: object
    started: float = field(default_factory=time.monotonic)
    held: list = field(default_factory=list)  # from the child's last snapshot
    overdue: list = field(default_factory=list)
    processed: int = 0
    failed: int = 0
    kill_reason: tuple | None = None  # ("timeout" | "cancel" | "overdue", entry)
    cancels: dict = field(default_factory=dict)  # (queue, id) -> monotonic time of the request


class Supervisor(Commanded):
    def __init__(self, options: WorkerOptions, config: Config, *, periodic: dict | None = None):
        self.options = options
        self.config = config
        self.periodic = periodic
        self.id = options.worker_id
        self.children: dict[int, Child] = {}
        self.crashes = 0
        self.signals = 0
        self.started_at = int(time.time() * 1000)
        self.context = multiprocessing.get_context("spawn")
        self.settling: set[asyncio.Task] = set()
        self.quiet = False  # an operator's quiet, told to every child
        self.commanded_stop = False

    def run(self) -> int:
        return asyncio.run(self.main())

    async def main(self) -> int:
        self.loop = asyncio.get_running_loop()
        self.stop = asyncio.Event()
        self.broker = build_async_broker(self.config)
        self.heartbeat = Heartbeat(
            build_broker(self.config),
            self.config.LEASE_SECONDS / 3,
            self._held,
            self._answer_from_thread,
            self._registry_entry,
            RuntimeStats(),
            self._control_from_thread,
        )
        for sig in (signal.SIGTERM, signal.SIGINT):
            self.loop.add_signal_handler(sig, self.request_stop)
        await register_when_possible(self.heartbeat)
        self.heartbeat.start()
        found = schedules(self.periodic)
        maintenance = Maintenance(self.broker, self.options.queues, found, registry)
        await maintenance.try_declaring_limits()  # before any child claims (maintenance.py)
        for index in range(self.options.processes):
            self.spawn(index)
        background = [
            asyncio.create_task(maintenance.run()),
            asyncio.create_task(self.watchdog()),
            asyncio.create_task(archive_loop(self.config.ARCHIVE_INTERVAL)),
            asyncio.create_task(listen_for_wakeups(self.broker, self.id, self.heartbeat.wake)),
        ]
        log.info(
            "supervisor %s: %d processes x %d",
            self.id,
            self.options.processes,
            self.options.concurrency,
        )
        await self.stop.wait()
        await self.wait_for_children()
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await asyncio.to_thread(self.heartbeat.finish, self.id)
        await self.broker.close()
        return 0

    # -- children --------------------------------------------------------------------

    def spawn(self, index: int) -> None:
        parent_end, child_end = self.context.Pipe()
        options = replace(self.options, processes=1, name=f"{self.options.name or self.id}#{index}")
        level = logging.getLevelName(logging.getLogger().level)
        process = self.context.Process(
            target=child_process.main,
            args=(options, child_end, level),
            name=f"taskqueue-child-{index}",
        )
        process.start()
        child_end.close()
        child = self.children[index] = Child(index, process, parent_end)
        self.loop.add_reader(parent_end.fileno(), self._receive, child)
        self.loop.add_reader(process.sentinel, self._exited, child)
        if self.quiet:
            _tell_quiet(child)

    def _receive(self, child: Child) -> None:
        try:
            while child.conn.poll():
                message = json.loads(child.conn.recv_bytes())
                if "started" in message:
                    _mark_started(child, message["started"])
                    continue
                if "wake" in message:  # a cancel of a task of this child: renew now
                    self.heartbeat.wake()
                    continue
                child.held, child.overdue = message["held"], message["overdue"]
                child.processed, child.failed = message["processed"], message["failed"]
                if message.get("progress"):
                    self.heartbeat.progress_reported()
        except (EOFError, OSError):
            self.loop.remove_reader(child.conn.fileno())

    def _exited(self, child: Child) -> None:
        self.loop.remove_reader(child.process.sentinel)
        with contextlib.suppress(ValueError, OSError):
            self.loop.remove_reader(child.conn.fileno())
        child.process.join()
        code = child.process.exitcode
        settling = asyncio.create_task(self._after_exit(child, code))
        self.settling.add(settling)
        settling.add_done_callback(self.settling.discard)

    async def _after_exit(self, child: Child, code: int) -> None:
        try:
            await self._settle(child, code)
        except BrokerUnavailable as exc:
            log.warning(
                "child %d: could not settle its tasks (their leases will expire): %s",
                child.index,
                exc,
            )
        child.conn.close()
        del self.children[child.index]
        if self.stop.is_set() or (self.options.burst and code == 0):
            if not self.children:
                self.stop.set()
            return
        lived = time.monotonic() - child.started
        self.crashes = self.crashes + 1 if code != 0 and lived < 5 else 0
        delay = min(30.0, 0.5 * 2 ** (self.crashes - 1)) if self.crashes else 0.0
        if delay:
            log.warning(
                "child %d keeps crashing: waiting %.1f s before the next one", child.index, delay
            )
            await asyncio.sleep(delay)
        if not self.stop.is_set():
            self.spawn(child.index)

    async def _settle(self, child: Child, code: int) -> None:
        """Account for the tasks a finished child held."""
        if child.kill_reason is not None:
            reason, entry = child.kill_reason
            others = [e for e in child.held if entry is None or e[1] != entry[1]]
            if reason == "timeout":
                await self._fail_timed_out(entry)
            elif reason == "cancel":
                await self.broker.finish_cancelled(entry[0], entry[1], entry[2])
            await self._release(others)
        elif code != 0 and child.held:
            started = [e for e in child.held if e[9]]
            log.warning(
                "child %d died (exit %s) running %d task(s): expiring their leases",
                child.index,
                code,
                len(started),
            )
            await self._expire(started)  # a lost attempt each: one of them may be the cause
            await self._release([e for e in child.held if not e[9]])

    async def _fail_timed_out(self, entry: list) -> None:
        queue, task_id, attempt, _, timeout, _, name, failures, max_retries, _ = entry
        exc = TaskTimeout(
            f"killed: still running {HARD_LIMIT_GRACE_S} s past its {timeout} s limit"
        )
        delay = None
        if failures < max_retries:
            delay = retry_delay_ms(_registered(name), exc, failures, self.config)
        await self.broker.fail(queue, task_id, attempt, retry_delay_ms=delay, error=describe(exc))

    async def _release(self, entries: list) -> None:
        for queue, held in _by_queue(entries).items():
            await self.broker.release(queue, [(task_id, attempt) for task_id, attempt, _ in held])

    async def _expire(self, entries: list) -> None:
        for queue, held in _by_queue(entries).items():
            await self.broker.renew(queue, held, lease_ms=0)
            await self.broker.reap(queue)

    # -- hard limits -----------------------------------------------------------------

    async def watchdog(self) -> None:
        while True:
            await asyncio.sleep(WATCH_S)
            try:
                self._enforce_limits()
            except Exception:
                log.exception("supervisor watchdog failed")

    def _enforce_limits(self) -> None:
        if True:
            now, mono = time.time(), time.monotonic()
            for child in list(self.children.values()):
                if child.kill_reason is None:
                    child.kill_reason = self._reason_to_kill(child, now, mono)
                    if child.kill_reason is not None:
                        log.warning(
                            "child %d: killing it (%s of task %s)",
                            child.index,
                            child.kill_reason[0],
                            (child.kill_reason[1] or ["", "-"])[1],
                        )
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(child.process.pid, signal.SIGKILL)

    def _reason_to_kill(self, child: Child, now: float, mono: float) -> tuple | None:
        for entry in child.held:
            timeout, started = entry[4], entry[5]
            if entry[9] and timeout and now > started + timeout + HARD_LIMIT_GRACE_S:
                return ("timeout", entry)
            asked = child.cancels.get((entry[0], entry[1]))
            if asked is not None and mono > asked + CANCEL_GRACE_S:
                return ("cancel", entry)
        for _, _, deadline in child.overdue:
            if now > deadline + HARD_LIMIT_GRACE_S:
                return ("overdue", None)
        return None

    # -- heartbeat hooks (from the heartbeat thread) ---------------------------------

    def _held(self) -> list:
        return [
            (e[0], e[1], e[2], e[3]) for c in list(self.children.values()) for e in list(c.held)
        ]

    def _answer_from_thread(self, queue: str, task_id: str, answer: Lease) -> None:
        self.loop.call_soon_threadsafe(self._route_answer, queue, task_id, answer)

    def _route_answer(self, queue: str, task_id: str, answer: Lease) -> None:
        for child in self.children.values():
            if any(e[0] == queue and e[1] == task_id for e in child.held):
                if answer is Lease.CANCEL_REQUESTED:
                    child.cancels.setdefault((queue, task_id), time.monotonic())
                message = json.dumps({"queue": queue, "id": task_id, "answer": answer}).encode()
                with contextlib.suppress(OSError):
                    child.conn.send_bytes(message)

    def _go_quiet(self) -> None:
        """An operator's quiet (control.Commanded): every child is told."""
        for child in self.children.values():
            _tell_quiet(child)

    def _registry_entry(self) -> WorkerBeat:
        o, children = self.options, list(self.children.values())
        return WorkerBeat(
            id=self.id,
            name=o.name or self.id,
            host=socket.gethostname(),
            pid=os.getpid(),
            queues=o.queues,
            concurrency=o.concurrency * o.processes,
            processes=o.processes,
            started_at=self.started_at,
            state=self._state(),
            in_flight=sum(len(c.held) for c in children),
            processed=sum(c.processed for c in children),
            failed=sum(c.failed for c in children),
        )

    # -- stopping --------------------------------------------------------------------

    def request_stop(self) -> None:
        self.signals += 1
        log.info("supervisor: forwarding SIGTERM to %d children", len(self.children))
        for child in self.children.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.process.pid, signal.SIGTERM)
        self.stop.set()

    async def wait_for_children(self) -> None:
        """Keep renewing leases while the children finish, release and exit."""
        while self.children or self.settling:
            await asyncio.sleep(0.05)


def _tell_quiet(child: Child) -> None:
    with contextlib.suppress(OSError):
        child.conn.send_bytes(b'{"control": "quiet"}')


def _mark_started(child: Child, started: list) -> None:
    ids = {(queue, task_id) for queue, task_id in started}
    for entry in child.held:
        if (entry[0], entry[1]) in ids:
            entry[5], entry[9] = time.time(), True


def _by_queue(entries: list) -> dict[str, list[tuple]]:
    grouped: dict[str, list[tuple]] = {}
    for e in entries:
        grouped.setdefault(e[0], []).append((e[1], e[2], ""))
    return grouped


def _registered(name: str):
    try:
        return registry.get(name)
    except TaskNotFound:  # an unknown task gets no retry
        return None
