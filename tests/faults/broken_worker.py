"""A broken twin of `manage.py runworker`: patches the engine in this process only,
then runs the management command. The oracle must catch what each break does.

    python tests/faults/broken_worker.py runworker ...   (env FAULTS_BREAK=<mode>)

Modes:
  no-reaper   maintenance never reaps expired leases (a killed worker's tasks stay
              in flight forever)
  early-reap  the reaper treats every lease as expired (tasks are taken from workers
              that still hold them)
  no-dead-letter  the reaper never dead-letters (MAX_LEASE_LOSSES ignored): a task
              that kills its worker does so forever
  no-release  a stopping worker does not hand its unfinished tasks back (they wait
              for their leases to expire)
  unfenced    completions are sent with the task's current attempt number (read from
              Redis) instead of the worker's own, and a lost lease is ignored: a stale
              worker's completion is accepted
  ack-unrun   about one task in 25 (chosen by id: `skipped(id)`) is reported completed
              without its body running: the ack-before-run bug
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ACK_UNRUN_EVERY = 25


def skipped(task_id: str) -> bool:
    """The ids the ack-unrun twin never runs."""
    return int(task_id.replace("-", ""), 16) % ACK_UNRUN_EVERY == 0


def _no_reaper() -> None:
    from taskqueue.broker.async_broker import AsyncRedisBroker
    from taskqueue.broker.outcomes import Reaped, Swept

    async def sweep(self, queues, **options):  # promotes, never reaps
        return [Swept(q, await self.promote(q), Reaped(0, 0)) for q in queues]

    AsyncRedisBroker.sweep = sweep


def _early_reap() -> None:
    from taskqueue.broker.async_broker import AsyncRedisBroker

    original = AsyncRedisBroker.sweep

    async def sweep(self, queues, **options):
        for queue in queues:
            active = self.keys.queue(queue).active
            held = await self.client.zrange(active, 0, -1)
            if held:  # every lease "expired" long ago
                await self.client.zadd(active, dict.fromkeys(held, 0), xx=True)
        return await original(self, queues, **options)

    AsyncRedisBroker.sweep = sweep


def _no_dead_letter() -> None:
    from taskqueue.broker.operations import Operations, operation

    original = Operations.reap.build

    def reap(self, queue, **options):
        call = original(self, queue, **options)
        call.args[3] = 10**9  # ARGV[4] max losses
        return call

    Operations.reap = operation(reap)


def _no_release() -> None:
    from taskqueue.worker.worker import Worker

    async def release_nothing(self):
        return None

    Worker._release_the_rest = release_nothing


def _unfenced() -> None:
    from taskqueue.broker.async_broker import AsyncRedisBroker
    from taskqueue.broker.requests import ScriptCall
    from taskqueue.worker.execution import Execution

    send = AsyncRedisBroker._send

    async def current_attempts(broker, call):
        if call.script == "complete_tasks":  # ARGV: base, now, ttl, maxlen, (id, attempt, r)*
            for i in range(4, len(call.args), 3):
                key = call.args[0] + "task:" + call.args[i]
                call.args[i + 1] = await broker.client.hget(key, "attempts") or call.args[i + 1]

    async def patched_send(self, step):
        for call in [step] if isinstance(step, ScriptCall) else getattr(step, "calls", []):
            await current_attempts(self, call)
        return await send(self, step)

    lease_answer = Execution.lease_answer

    def patched_lease_answer(self, queue, task_id, answer):
        if answer != 0:
            lease_answer(self, queue, task_id, answer)

    AsyncRedisBroker._send = patched_send
    Execution.lease_answer = patched_lease_answer


def _ack_unrun() -> None:
    from taskqueue.definition import Task, TaskOptions
    from taskqueue.worker.runner import Runner

    prepare = Runner.prepare
    noop = Task(lambda: None, "noop", TaskOptions())

    def patched(self, running):
        task, args, kwargs = prepare(self, running)
        if skipped(running.claimed.id):
            return noop, [], {}
        return task, args, kwargs

    Runner.prepare = patched


MODES = {
    "no-reaper": _no_reaper,
    "early-reap": _early_reap,
    "no-dead-letter": _no_dead_letter,
    "no-release": _no_release,
    "unfenced": _unfenced,
    "ack-unrun": _ack_unrun,
}


def main(modes: dict = MODES) -> None:
    """Set Django up, apply the break named by FAULTS_BREAK, run the command in argv."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    modes[os.environ["FAULTS_BREAK"]]()
    from django.core.management import execute_from_command_line

    execute_from_command_line(["manage.py", *sys.argv[1:]])


if __name__ == "__main__":
    main()
