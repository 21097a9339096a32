"""Broken twins of `manage.py runworker` for helper hyg's scenarios: patch the engine
in this process only, then run the management command.

    python tests/faults/hyg_broken_worker.py runworker ...   (env FAULTS_BREAK=<mode>)

Modes:
  early-promote  the promoter treats every scheduled task as due (delayed tasks and
                 retries start before their run-at: the ETA bug), R10
  leak           every task run keeps 20 KB alive for good (a per-task leak), R13
"""

LEAK_BYTES = 20_000


def _early_promote() -> None:
    from taskqueue.broker.async_broker import AsyncRedisBroker

    original = AsyncRedisBroker.sweep

    async def sweep(self, queues, **options):
        for queue in queues:
            scheduled = self.keys.queue(queue).scheduled
            waiting = await self.client.zrange(scheduled, 0, -1)
            if waiting:  # "due" at once
                await self.client.zadd(scheduled, dict.fromkeys(waiting, 0), xx=True)
        return await original(self, queues, **options)

    AsyncRedisBroker.sweep = sweep


def _leak() -> None:
    from taskqueue.worker.runner import Runner

    prepare = Runner.prepare
    kept = []

    def patched(self, running):
        kept.append(bytearray(LEAK_BYTES))
        return prepare(self, running)

    Runner.prepare = patched


MODES = {"early-promote": _early_promote, "leak": _leak}


if __name__ == "__main__":
    from broken_worker import main  # the same start-up as the rig's twins (this folder)

    main(MODES)
