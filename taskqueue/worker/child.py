"""A worker process under a supervisor (`runworker --processes P`).

The child claims and runs tasks like a lone worker, but its supervisor owns the
heartbeats: the child sends it a snapshot of what it holds (after each claim and every
second) and announces which tasks start before their bodies run, and hears cancel
requests and lost leases back over the same pipe, and an operator's quiet. A cancel
names the child on the task, so the child listens for its wake-up tokens and tells the
supervisor, which renews at once; progress goes to the supervisor in a snapshot within
PROGRESS_S (the supervisor's heartbeat coalesces it further: heartbeat.py). If the
supervisor disappears (the pipe closes), the child stops gracefully and releases its
tasks, so it never runs on with nobody renewing its leases.
"""

import asyncio
import contextlib
import json
import logging
import os
import signal
import time

log = logging.getLogger("taskqueue.worker")
SNAPSHOT_S = 1.0
PROGRESS_S = 0.1  # a snapshot carrying new progress goes at most this often


def main(options, conn, log_level: str) -> None:
    """Entry point of a spawned child process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor forwards a SIGTERM
    import django

    django.setup()
    # After django.setup(), as in manage.py: this runs first in a freshly spawned
    # process, and the worker and its settings are loaded by a configured Django.
    from ..conf import get_config
    from . import logs
    from .worker import Worker

    logs.configure(options.log_format, log_level)
    code = Worker(options, get_config(), link=ParentLink(conn)).run()
    flush_before_exit()
    os._exit(code)  # do not wait for a task thread past its time limit


def flush_before_exit() -> None:
    """What exit handlers would have sent, os._exit skips: spans a batching processor
    holds and events waiting for the events hook. Never in the way of the exit."""
    # here, as in main(): this module is loaded before django.setup() in a new child
    from .. import events_hook, tracing

    for flush in (tracing.flush, events_hook.flush):
        try:
            flush()
        except Exception:  # an exporter or hook that fails must not keep the child alive
            log.warning("could not flush before exiting", exc_info=True)


class ParentLink:
    """The child's end of the pipe to its supervisor."""

    def __init__(self, conn):
        self.conn = conn
        self.worker = None
        self.progress_due = False  # a snapshot with new progress is on its way

    def attach(self, worker) -> list[asyncio.Task]:
        self.worker = worker
        worker.execution.announce = self.started
        worker.loop.add_reader(self.conn.fileno(), self._receive)
        return [asyncio.create_task(self._periodic())]

    async def _periodic(self) -> None:
        while True:
            await asyncio.sleep(SNAPSHOT_S)
            self.send()
            await self.worker.flush_stats_async()

    def started(self, batch) -> None:
        """These tasks start now: a crash from here on may be their doing."""
        message = {"started": [[r.claimed.queue, r.claimed.id] for r in batch]}
        with contextlib.suppress(OSError):
            self.conn.send_bytes(json.dumps(message).encode())

    def wake_parent(self) -> None:
        """A wake-up token came for this child (a cancel): the supervisor renews now."""
        with contextlib.suppress(OSError):
            self.conn.send_bytes(b'{"wake": true}')

    def progress(self) -> None:
        """A task recorded progress (its thread; no I/O here): a snapshot soon."""
        if self.progress_due:
            return
        self.progress_due = True
        loop = self.worker.loop
        with contextlib.suppress(RuntimeError):  # the loop is closed: exiting
            loop.call_soon_threadsafe(loop.call_later, PROGRESS_S, self._send_progress)

    def _send_progress(self) -> None:
        self.progress_due = False
        self.send(progress=True)

    def send(self, progress: bool = False) -> None:
        """Tell the supervisor what this child holds (a small JSON message)."""
        w = self.worker
        held = [
            [
                r.claimed.queue,
                r.claimed.id,
                r.claimed.attempt,
                r.ctx.progress,
                r.claimed.timeout,
                r.started_wall,
                r.claimed.name,
                r.claimed.failures,
                r.claimed.max_retries,
                r.started and not r.finished,  # running: a crash now may be its doing
            ]
            for r in list(w.running.values())
        ]
        overdue = [[q, task_id, deadline] for (q, task_id), deadline in w.overdue.items()]
        message = {
            "held": held,
            "overdue": overdue,
            "processed": w.processed,
            "failed": w.failed,
            "at": time.time(),
            "progress": progress,  # new progress: the supervisor sends it within 0.5 s
        }
        with contextlib.suppress(OSError):
            self.conn.send_bytes(json.dumps(message).encode())

    def _receive(self) -> None:
        try:
            while self.conn.poll():
                message = json.loads(self.conn.recv_bytes())
                if "control" in message:  # an operator's quiet (supervisor.py)
                    self.worker._go_quiet()
                    continue
                self.worker.execution.lease_answer(
                    message["queue"], message["id"], message["answer"]
                )
        except (EOFError, OSError):
            log.warning("the supervisor is gone: stopping")
            self.worker.loop.remove_reader(self.conn.fileno())
            self.worker.request_stop()
