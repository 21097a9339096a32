"""AsyncRedisBroker: the worker's hot path (claim, acknowledge, fail, release, maintain)
on redis.asyncio, executing the same ScriptCalls as the sync broker.

On one Redis, several calls go in one pipeline (one round trip). redis-py does not
pipeline scripts on a Redis Cluster, so there the calls run concurrently, one request
each (they touch different slots, often different nodes, and need no order). Each call
of a pipeline succeeds or fails on its own: `run_many` answers one reply or one
exception per call, so one queue's trouble never costs another queue's claimed tasks
or reports. Keys of the wrong type are moved aside and the call runs again (damage.py).
"""

import asyncio
import contextlib
from collections.abc import Sequence

import redis.asyncio
from redis.exceptions import RedisClusterException, ResponseError

from ..conf import Config
from ..records import Claimed, NewTask
from .cluster import BlockingPops, is_cluster
from .damage import HEAL_ROUNDS, damage_in, log_moved, log_moved_global, unhealed
from .errors import CONNECTION_ERRORS, cluster_trouble, is_wrong_type, translating, unavailable
from .keys import Keys
from .operations import Operations, ScriptCall
from .scripts import keys_fit, names, source, translate
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
        if not keys_fit(call.script, len(call.keys)):
            raise AssertionError(f"{call.script}: KEYS do not match its header")
        return self._scripts[call.script]

    async def execute(self, call: ScriptCall):
        """Run a script call; keys of the wrong type are moved aside and it runs again."""
        for _ in range(HEAL_ROUNDS):
            reply = await self._run(call)
            damage = damage_in(reply)
            if damage is None:
                return call.parse(reply)
            if not call.heals:
                break
            log_moved(call.queue, await self._run(self.ops.quarantine(call.queue, damage)))
        raise unhealed(damage)

    async def _run(self, call: ScriptCall):
        try:
            return await self._script(call)(keys=call.keys, args=call.args)
        except ResponseError as exc:
            raise translate(exc, call.task_id, call.action) from None

    async def execute_many(self, calls: Sequence[ScriptCall]) -> list:
        """Run several calls in one round trip (a pipeline, not a transaction); on a
        cluster, concurrently. One reply per call, or the exception that call met; a
        connection lost under the whole round trip is raised."""
        if len(calls) == 1 or self.cluster:
            return list(await asyncio.gather(*map(self._outcome, calls)))
        async with self.client.pipeline(transaction=False) as pipe:
            for call in calls:
                await self._script(call)(keys=call.keys, args=call.args, client=pipe)
            replies = await pipe.execute(raise_on_error=False)
        return [await self._settle(call, reply) for call, reply in zip(calls, replies, strict=True)]

    async def _outcome(self, call: ScriptCall):
        """execute(call), or the exception it raised (Redis trouble as BrokerUnavailable)."""
        try:
            return await self.execute(call)
        except CONNECTION_ERRORS as exc:
            return unavailable(exc)
        except RedisClusterException as exc:
            return unavailable(exc) if cluster_trouble(exc) else exc
        except Exception as exc:
            return exc

    async def _settle(self, call: ScriptCall, reply):
        if isinstance(reply, ResponseError):
            return translate(reply, call.task_id, call.action)
        if damage_in(reply) is not None:
            return await self._outcome(call)
        return call.parse(reply)

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
        """One reply per call, or the exception that call met (see execute_many)."""
        return await self.execute_many(calls)

    @translating
    async def run(self, call: ScriptCall):
        return await self.execute(call)

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
        await self.healing_global(
            {self.keys.queues: "set"}, lambda: self.client.sadd(self.keys.queues, queue)
        )
        if not self.shards.is_sharded(queue):
            return await self.execute(self.ops.enqueue(queue, tasks, None))
        placed = {}
        for task in tasks:
            placed.setdefault(self.shards.place(task), []).append(task)
        calls = [self.ops.enqueue(name, group, None) for name, group in placed.items()]
        replies = await self.execute_many(calls)
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        by_task = {
            id(t): pair
            for group, reply in zip(placed.values(), replies, strict=True)
            for t, pair in zip(group, reply, strict=True)
        }
        return [by_task[id(t)] for t in tasks]

    async def healing_global(self, wanted: dict[str, str], command):
        """await command(), and once more after moving aside those of `wanted`'s global
        keys (key -> the type it must have) that had the wrong type (damage.py)."""
        try:
            return await command()
        except ResponseError as exc:
            if not is_wrong_type(exc):
                raise
        for key, expected in wanted.items():
            call = self.ops.quarantine_global(key, expected)
            moved = None if call is None else await self.execute(call)
            if moved is not None:
                log_moved_global(key, *moved)
                with contextlib.suppress(ResponseError):  # a damaged counter: still moved
                    await self.client.incr(self.keys.quarantined)
        return await command()

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
