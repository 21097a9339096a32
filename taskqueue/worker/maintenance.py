"""Maintenance: promote due scheduled tasks, reap expired leases, fire cron ticks.
First of all it writes the flow-control limits its tasks and settings declare in each
of its queues (docs/flow-control.md).

Every worker runs it (any number may at once: each script moves each task exactly
once). Each queue is maintained on its own: one queue's failure is logged and the
other queues are still promoted, reaped and trimmed; every queue's calls go in one
round trip. It sleeps until the next scheduled task is due or SWEEP_S passes,
whichever is first (the pause doubles, up to idle_pause, while sweeps find nothing to
do), and wakes early when a task is scheduled (the scripts push a token on the queue's
`timer` list), so delayed tasks and retries start on time without polling.
"""

import asyncio
import logging
import math
import random
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import DatabaseError, connections, router

from ..broker.async_broker import AsyncRedisBroker
from ..broker.operations import TRIM_BATCH
from ..broker.outcomes import Promoted
from ..broker.workflow_ops import SWEEP_AGE_MS
from ..definition import EnqueueOptions, build_task
from ..errors import BrokerUnavailable, TaskQueueError
from ..limits import Limit, settings_limits, task_limit
from ..periodic import Schedule
from ..registry import Registry
from .logs import Throttled

log = logging.getLogger("taskqueue.worker")
SWEEP_S = 1.0  # between sweeps while there is something to do
IDLE_SWEEP_MAX_S = 3.0  # the longest pause between sweeps that found nothing (idle_pause)
NOT_MIGRATED_PAUSE_S = 600.0  # between archive attempts while the table is missing
TRIM_S = 5.0  # how often finished records past their retention are looked for
TRIM_CALLS = 20  # at most 2,000 records of each kind per queue and pass


class Maintenance:
    def __init__(
        self, broker: AsyncRedisBroker, queues, schedules: list[Schedule], registry: Registry
    ):
        self.broker = broker
        self.queues = broker.shards.expand(queues)  # a sharded queue's sub-queues
        self.schedules = schedules
        self.registry = registry
        self.tz = ZoneInfo(settings.TIME_ZONE)
        self.next_ticks: dict[str, datetime] = {}
        self.clock_offset = 0.0  # Redis time - local time, seconds
        self.next_trim = 0.0  # time.monotonic() of the next trim pass
        self.warnings = Throttled(log)  # a queue that keeps failing: one line in 30 s
        self.limits_declared = False
        self.pause = SWEEP_S  # until the next sweep; doubles while sweeps find nothing
        self.longest_pause = idle_pause(broker.config.LEASE_SECONDS)

    async def run(self) -> None:
        while True:
            try:
                wait = await self.sweep()
            except BrokerUnavailable as exc:
                log.warning("maintenance: %s", exc)
                wait = SWEEP_S
            except Exception:
                log.exception("maintenance failed")
                wait = SWEEP_S
            await self._sleep(wait)

    async def _sleep(self, seconds: float) -> None:
        """Sleep, waking early when a task is scheduled (its due time may be sooner)."""
        try:
            await self.broker.wait_for_timer(self.queues, seconds)
        except BrokerUnavailable:
            await asyncio.sleep(seconds)
        except Exception:  # any error: the next sweep still comes
            log.exception("maintenance: waiting for the timer failed")
            await asyncio.sleep(seconds)

    async def sweep(self) -> float:
        """One pass over every queue; returns how long to sleep before the next."""
        if not self.limits_declared:
            await self.declare_all_limits()
        waits, moved = await self.promote_and_reap()
        moved += await self.advance_workflows()
        if time.monotonic() >= self.next_trim:
            self.next_trim = time.monotonic() + TRIM_S * random.uniform(0.8, 1.0)
            await self.each_queue(self.trim)
            await self.resume_submissions()
        self.pause = SWEEP_S if moved else min(self.pause * 2, self.longest_pause)
        wait = min([self.pause * random.uniform(0.8, 1.0), *waits])
        return min(wait, await self.fire_due_ticks())

    async def each_queue(self, step) -> list:
        """step(queue) for every queue, each on its own: a queue that fails is logged
        (once in a while) and skipped; when every queue failed, the error is raised."""
        results, errors = [], []
        for queue in self.queues:
            try:
                results.append(await step(queue))
            except Exception as exc:
                errors.append((queue, exc))
        self.report_failures(errors)
        return results

    def report_failures(self, errors: list[tuple[str, Exception]]) -> None:
        """Log each queue's failure (once in a while); when every queue failed, raise."""
        if errors and len(errors) == len(self.queues):
            raise errors[0][1]
        for queue, exc in errors:
            self.warnings.warning(queue, "maintenance of queue %s failed: %s", queue, exc)

    async def declare_all_limits(self) -> None:
        """Write the limits of this worker's tasks and settings in each of its queues.
        Called before the worker claims anything (a claim before would run its tasks
        unlimited); when Redis is not there yet, the first sweep does it."""
        await self.each_queue(self.declare_limits)
        self.limits_declared = True

    async def try_declaring_limits(self) -> None:
        try:
            await self.declare_all_limits()
        except Exception as exc:  # the first sweep tries again
            log.warning("could not write the flow-control limits yet: %s", exc)

    async def declare_limits(self, queue: str) -> None:
        logical = queue.partition("#")[0]  # a sub-queue of a sharded queue: its queue's
        own = settings_limits(self.broker.config.LIMITS).get(logical, Limit())
        tasks = [(t.name, task_limit(t)) for t in self.registry]
        await self.broker.declare_limits(queue, own, tasks)

    async def promote_and_reap(self) -> tuple[list[float], int]:
        """Due scheduled tasks to pending, expired leases reaped, every queue in one
        round trip: the seconds to each queue's next due task, and how many tasks moved."""
        waits, moved, errors = [], 0, []
        for swept in await self.broker.sweep(self.queues):
            if isinstance(swept.promoted, Exception):
                errors.append((swept.queue, swept.promoted))
            else:
                moved += swept.promoted.count
                if (wait := self.promoted(swept.promoted)) is not None:
                    waits.append(wait)
            if isinstance(swept.reaped, Exception):
                errors.append((swept.queue, swept.reaped))
            elif swept.reaped.requeued or swept.reaped.dead:
                moved += swept.reaped.requeued + swept.reaped.dead
                log.warning(
                    "queue %s: %d expired lease(s) requeued, %d dead-lettered",
                    swept.queue,
                    *swept.reaped,
                )
        self.report_failures(list(dict(errors).items()))
        return waits, moved

    def promoted(self, promoted: Promoted) -> float | None:
        """The seconds to the queue's next due task (None: none is scheduled)."""
        _, next_due, redis_now = promoted
        self.clock_offset = redis_now / 1000 - time.time()
        return None if next_due is None else max(0.001, (next_due - redis_now) / 1000)

    async def advance_workflows(self) -> int:
        """Apply workflow outbox entries that the worker which wrote them did not
        (it died, or the task was cancelled, dead-lettered or requeued elsewhere):
        how many."""
        try:
            done = await self.broker.advance(self.queues, min_age_ms=SWEEP_AGE_MS)
        except Exception as exc:  # the other queues' entries were applied; ticks still fire
            self.warnings.warning("outbox", "applying workflow outbox entries failed: %s", exc)
            return 0
        if done.applied:
            log.info("workflows: %d notification(s) applied by the sweep", done.applied)
        return done.applied

    async def resume_submissions(self) -> None:
        """Finish workflow submissions whose submitter died half-way (workflow_ops.py)."""
        try:
            if n := await self.broker.resume_submissions():
                log.warning("workflows: %d submission(s) cut short were finished", n)
        except TaskQueueError as exc:
            self.warnings.warning("submissions", "resuming workflow submissions failed: %s", exc)

    async def trim(self, queue: str) -> None:
        """Finished records past their retention, in batches of 100 a kind, up to
        TRIM_CALLS calls: a queue where nothing finishes any more is trimmed too."""
        for _ in range(TRIM_CALLS):
            if max(await self.broker.trim(queue)) < TRIM_BATCH:
                return

    def now(self) -> datetime:
        return datetime.fromtimestamp(time.time() + self.clock_offset, tz=UTC)

    async def fire_due_ticks(self) -> float:
        """Enqueue every schedule whose tick has come; returns seconds to the next tick
        (inf: no schedule)."""
        now, wait = self.now(), math.inf
        for schedule in self.schedules:
            tick = self.next_ticks.get(schedule.name)
            if tick is None:  # first sight (start-up): missed ticks are not replayed
                tick = self.next_ticks[schedule.name] = schedule.next_after(now, self.tz)
            if tick <= now:
                await self.fire(schedule, tick)
                tick = self.next_ticks[schedule.name] = schedule.next_after(now, self.tz)
            wait = min(wait, max(0.001, (tick - now).total_seconds()))
        return wait

    async def fire(self, schedule: Schedule, tick: datetime) -> None:
        try:
            task = self.registry.get(schedule.task)
            options = EnqueueOptions(
                queue=schedule.queue,
                idempotency_key=schedule.idempotency_key(tick),
                meta={"periodic": schedule.name},
            )
            new = build_task(task, schedule.args, schedule.kwargs, options)
        except TaskQueueError as exc:
            log.error("periodic %s: cannot enqueue %s: %s", schedule.name, schedule.task, exc)
            return
        [(task_id, created)] = await self.broker.enqueue([new])
        await self.broker.record_periodic(schedule.name, int(tick.timestamp() * 1000), task_id)
        if created:
            log.info("periodic %s: enqueued %s for %s", schedule.name, task_id, tick.isoformat())


def idle_pause(lease_s: float) -> float:
    """The longest pause between sweeps that found nothing to do: a tenth of the lease,
    between SWEEP_S and IDLE_SWEEP_MAX_S. An expired lease is reaped within that much
    after it expired (SWEEP_S when leases are short, as in the fault runs), and a worker
    with nothing to do sweeps every few seconds, not every second: each sweep costs a
    script call per queue and part of its process's CPU (docs/worker.md)."""
    return min(IDLE_SWEEP_MAX_S, max(SWEEP_S, lease_s / 10))


async def archive_loop(interval: float) -> None:
    """Copy finished tasks to the database archive (taskqueue/archive.py) every
    `interval` seconds, in a thread: any number of workers run this, one at a time
    does the work (a Redis lock), and the event loop never waits for the database.
    The first run is one interval after the start: a worker that just started (or many
    restarting at once) leaves the database alone for a while."""
    # The archive (and with it the models) when the loop starts, so that importing
    # the worker needs no app registry: model classes are built once apps are loaded.
    from .. import archive

    pause = interval * random.uniform(0.9, 1.1)
    while True:
        await asyncio.sleep(pause)
        pause = interval * random.uniform(0.9, 1.1)
        try:
            written = await asyncio.to_thread(_archive_in_thread, archive)
        except NotMigrated as exc:  # say so once in a while, not every interval
            log.warning("archiving skipped until the database is migrated: %s", exc.__cause__)
            pause = max(pause, NOT_MIGRATED_PAUSE_S)
        except DatabaseError as exc:  # e.g. a lock or a lost connection: try next interval
            log.warning("archiving failed, trying again: %s", exc)
        except BrokerUnavailable as exc:
            log.warning("archiving skipped: %s", exc)
        except Exception:
            log.exception("archiving failed")
        else:
            if written is not None and written >= archive.DEFAULT_BATCH:
                pause = 1.0  # a backlog: go on soon


class NotMigrated(Exception):
    """The archive's table does not exist: `migrate` has not been run yet."""


def _archive_in_thread(archive):
    try:
        return archive.archive_if_due()
    except DatabaseError as exc:
        if not _archive_table_exists():
            raise NotMigrated from exc
        raise
    finally:
        connections.close_all()  # this thread's: it may not be the next run's thread


def _archive_table_exists() -> bool:
    from ..models import TaskArchive  # here, not above: see archive_loop

    connection = connections[router.db_for_write(TaskArchive)]
    try:
        return TaskArchive._meta.db_table in connection.introspection.table_names()
    except DatabaseError:
        return True  # the database itself is not answering: a transient failure
