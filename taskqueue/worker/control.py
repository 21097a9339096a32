"""An operator's commands to a worker (docs/worker.md, "Worker control"), mixed into
Worker: the heartbeat thread reads the worker's control record when a wake-up token
comes (and at every beat) and hands a new command over here.

- quiet: the fetch loop ends, the tasks claimed ahead (not started) go back to their
  queues at once, the running ones finish and are reported; the worker keeps running
  (heartbeat, maintenance, cron), shown as `quiet` in the registry. Under a supervisor
  each child hears it over its pipe (child.py).
- stop: as SIGTERM (request_stop): graceful, within --grace, then exit 0.
"""

import asyncio
import logging

from ..workers import WorkerControl

log = logging.getLogger("taskqueue.worker")


class Commanded:
    """What a worker and a supervisor do alike with an operator's command: mixed into
    both; needs loop, stop, request_stop and _go_quiet (each its own quiet)."""

    quiet: bool  # an operator's quiet: no more claims, running tasks finish
    commanded_stop: bool  # an operator's stop (as SIGTERM)

    def _control_from_thread(self, control: WorkerControl) -> None:
        """From the heartbeat thread; the flags first, so the registry entry it writes
        next shows the new state (and the fetch loop claims nothing more)."""
        log.info("%s requested by %.150s", control.command, control.by or "an operator")
        if control.command == "stop":
            self.commanded_stop = True
            self.loop.call_soon_threadsafe(self._commanded_stop)
        elif control.command == "quiet":
            self.quiet = True
            self.loop.call_soon_threadsafe(self._go_quiet)

    def _commanded_stop(self) -> None:
        if not self.stop.is_set():
            self.request_stop()  # as SIGTERM: graceful, within --grace

    def _state(self) -> str:
        """The registry's state: running, quiet or stopping."""
        if self.stop.is_set() or self.commanded_stop:
            return "stopping"
        return "quiet" if self.quiet else "running"


class Controlled(Commanded):
    """Mixed into Worker: needs loop, stop, execution, fetching, running, link,
    request_stop and _release_the_rest."""

    quieting: asyncio.Task | None

    def _go_quiet(self) -> None:
        """On the loop (a child hears it from its supervisor: child.py)."""
        self.quiet = True
        if self.quieting is None and not self.stop.is_set():
            self.quieting = asyncio.create_task(self._quiet_down())

    async def _quiet_down(self) -> None:
        """Stop claiming; hand back what was claimed ahead; what runs finishes."""
        if self.fetching is not None:
            self.fetching.cancel()
            await asyncio.gather(self.fetching, return_exceptions=True)
        self.execution.hold_back()
        await self._release_the_rest(unstarted_only=True)
        if self.link is not None:
            self.link.send()  # the supervisor renews what runs, not what went back
        log.info("quiet: claiming no more; %d task(s) running on", len(self.running))
