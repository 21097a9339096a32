"""AsyncRedisBroker: the worker's broker, on redis.asyncio. Its operations are the ones
declared in operations.py (`await broker.claim(...)`); this module only sends what they
build (requests.py), and waits for work.

On one Redis, several calls go in one pipeline (one round trip). redis-py does not
pipeline scripts on a Redis Cluster, so there the calls run concurrently, one request
each (they touch different slots, often different nodes, and need no order). Each call
of a batch succeeds or fails on its own: `run_many` answers one reply or one exception
per call, so one queue's trouble never costs another queue's claimed tasks or reports.
"""

import asyncio
from collections.abc import Sequence

import redis.asyncio
from redis.exceptions import ResponseError

from ..conf import Config
from .cluster import BlockingPops, is_cluster
from .errors import translated
from .operations import Operations
from .requests import Batch, Commands, Plan, ScriptCall, batch, drive_async
from .scripts import Scripts, missing


class AsyncRedisBroker(Operations):
    def __init__(self, client: redis.asyncio.Redis, config: Config):
        super().__init__(config)
        self.client = client
        self.cluster = is_cluster(client)
        self._pops = {"wake": BlockingPops(client), "timer": BlockingPops(client)}
        self.scripts = Scripts(client)

    async def perform(self, plan: Plan):
        """Run an operation's plan; Redis trouble as the engine's exceptions."""
        with translated():
            return await drive_async(plan, self._send)

    async def run_many(self, calls: Sequence[ScriptCall]) -> list:
        """Script calls in one round trip: a parsed reply, or the exception, per call; a
        connection lost under the whole round trip is raised."""
        return await self.perform(batch(calls))

    async def wait_for_timer(self, queues: Sequence[str], timeout: float) -> bool:
        """Sleep until `timeout` passes or a task is scheduled on one of the queues."""
        keys = [self.keys.queue(q).timer for q in queues]
        with translated():
            return await self._pop_any("timer", keys, max(0.01, timeout))

    async def wait_for_work(self, queues: Sequence[str], timeout: float) -> bool:
        """Block until a wake-up token arrives on one of the queues (True) or timeout."""
        keys = [self.keys.queue(q).wake for q in queues]
        with translated():
            return await self._pop_any("wake", keys, timeout)

    async def wait_for_control(self, worker_id: str, timeout: float) -> str | None:
        """Block until a token arrives on the worker's wake-up list (control_ops.py): the
        token, or None after `timeout` s."""
        with translated():
            popped = await self.client.blpop([self.keys.worker_wake(worker_id)], timeout=timeout)
        return None if popped is None else popped[1]

    async def close(self) -> None:
        """Stop the blocking calls still in flight, then close the client."""
        for pops in self._pops.values():
            await pops.close()
        await self.client.aclose()

    async def _pop_any(self, kind: str, keys: list[str], timeout: float) -> bool:
        if self.cluster and len(keys) > 1:
            return await self._pops[kind].wait(keys, timeout)
        return await self.client.blpop(keys, timeout=timeout) is not None

    async def _send(self, step):
        if isinstance(step, ScriptCall):
            return await self._script(step)
        if isinstance(step, Commands):
            async with self.client.pipeline(transaction=False) as pipe:
                step.queue(pipe)
                return await pipe.execute(raise_on_error=False)
        return await self._batch(step)

    async def _script(self, call: ScriptCall, client=None):
        try:
            return await self.scripts.run(call.script, call.keys, call.args, client)
        except ResponseError as exc:
            return exc

    async def _batch(self, step: Batch) -> list:
        if len(step.calls) == 1 or self.cluster:
            calls = (self._script(call) for call in step.calls)
            return list(await asyncio.gather(*calls, return_exceptions=True))
        async with self.client.pipeline(transaction=False) as pipe:
            for call in step.calls:
                self.scripts.queue(call.script, call.keys, call.args, pipe)
            replies = await pipe.execute(raise_on_error=False)
        for i in missing(replies):  # Redis lost its scripts: these did not run
            replies[i] = await self._script(step.calls[i])
        return replies
