"""AsyncRedisBroker: the worker's hot path (claim, acknowledge, fail, release, maintain)
on redis.asyncio, executing the same ScriptCalls as the sync broker.

On one Redis, several calls go in one pipeline (one round trip). redis-py does not
pipeline scripts on a Redis Cluster, so there the calls run concurrently, one request
each (they touch different slots, often different nodes, and need no order).
"""

import asyncio
from collections.abc import Sequence

import redis.asyncio
from redis.exceptions import ResponseError

from ..conf import Config
from ..records import Claimed, NewTask
from .cluster import BlockingPops, is_cluster
from .errors import translating
from .keys import Keys
from .operations import Operations, ScriptCall
from .scripts import declared_keys, names, source, translate
from .shards import Shards


class AsyncRedisBroker:
    def __init__(self, client: redis.asyncio.Redis, config: Config):
        self.client = client
        self.config = config
        self.keys = Keys(config.PREFIX)
        self.ops = Operations(self.keys, config)
        self.shards = Shards(config.SHARDS)
        self.cluster = is_cluster(client)
        self._pops = {"wake": BlockingPops(client), "timer": BlockingPops(client)}
        self._scripts = {name: client.register_script(source(name)) for name in names()}

    def _script(self, call: ScriptCall):
        if len(call.keys) != declared_keys(call.script):
            raise AssertionError(f"{call.script}: KEYS do not match its header")
        return self._scripts[call.script]

    async def execute(self, call: ScriptCall):
        try:
            reply = await self._script(call)(keys=call.keys, args=call.args)
        except ResponseError as exc:
            raise translate(exc, call.task_id, call.action) from None
        return call.parse(reply)

    async def execute_many(self, calls: Sequence[ScriptCall]) -> list:
        """Run several calls in one round trip (a pipeline, not a transaction); on a
        cluster, concurrently (every call finishes before the first error is raised)."""
        if len(calls) == 1:
            return [await self.execute(calls[0])]
        if self.cluster:
            replies = await asyncio.gather(*map(self.execute, calls), return_exceptions=True)
            for reply in replies:
                if isinstance(reply, BaseException):
                    raise reply
            return replies
        async with self.client.pipeline(transaction=False) as pipe:
            for call in calls:
                await self._script(call)(keys=call.keys, args=call.args, client=pipe)
            replies = await pipe.execute()
        return [call.parse(reply) for call, reply in zip(calls, replies, strict=True)]

    @translating
    async def claim(
        self,
        queue: str,
        worker_id: str,
        count: int,
        lease_ms: int | None = None,
        suspects: str = "",
    ) -> list[Claimed]:
        call = self.ops.claim(queue, worker_id, count, lease_ms, None, suspects)
        return await self.execute(call)

    @translating
    async def run_many(self, calls: Sequence[ScriptCall]) -> list:
        return await self.execute_many(calls)

    @translating
    async def release(self, queue: str, held: Sequence[tuple[str, int]]) -> list[bool]:
        return await self.execute(self.ops.release(queue, held, None))

    @translating
    async def promote(self, queue: str) -> tuple[int, int | None, int]:
        return await self.execute(self.ops.promote(queue, 100, None))

    @translating
    async def reap(self, queue: str) -> tuple[int, int]:
        return await self.execute(self.ops.reap(queue, 100, None))

    @translating
    async def trim(self, queue: str) -> tuple[int, int, int]:
        return await self.execute(self.ops.trim(queue, None))

    @translating
    async def enqueue(self, queue: str, tasks: Sequence[NewTask]) -> list[tuple[str, bool]]:
        """Create tasks of one queue (a sharded queue's tasks go to their sub-queues)."""
        await self.client.sadd(self.keys.queues, queue)
        if not self.shards.is_sharded(queue):
            return await self.execute(self.ops.enqueue(queue, tasks, None))
        placed = {}
        for task in tasks:
            placed.setdefault(self.shards.place(task), []).append(task)
        calls = [self.ops.enqueue(name, group, None) for name, group in placed.items()]
        replies = await self.execute_many(calls)
        by_task = {
            id(t): pair
            for group, reply in zip(placed.values(), replies, strict=True)
            for t, pair in zip(group, reply, strict=True)
        }
        return [by_task[id(t)] for t in tasks]

    @translating
    async def wait_for_timer(self, queues: Sequence[str], timeout: float) -> bool:
        """Sleep until `timeout` passes or a task is scheduled on one of the queues."""
        keys = [self.keys.queue(q).timer for q in queues]
        return await self._pop_any("timer", keys, max(0.01, timeout))

    @translating
    async def wait_for_work(self, queues: Sequence[str], timeout: float) -> bool:
        """Block until a wake-up token arrives on one of the queues (True) or timeout."""
        keys = [self.keys.queue(q).wake for q in queues]
        return await self._pop_any("wake", keys, timeout)

    async def _pop_any(self, kind: str, keys: list[str], timeout: float) -> bool:
        if self.cluster and len(keys) > 1:
            return await self._pops[kind].wait(keys, timeout)
        return await self.client.blpop(keys, timeout=timeout) is not None

    async def close(self) -> None:
        """Stop the blocking calls still in flight, then close the client."""
        for pops in self._pops.values():
            await pops.close()
        await self.client.aclose()
